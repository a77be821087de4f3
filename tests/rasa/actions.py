"""A small Rasa actions package for tests/rasa.rs, served by the real
rasa-sdk (`python -m rasa_sdk --actions actions`), as a team leaving Rasa
would bring its own."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

ORDERS = {"A12345": "cancelled", "B23456": "on sale"}


class CheckOrder(Action):
    def name(self) -> Text:
        return "action_check_order"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        order = tracker.get_slot("order_id")
        status = ORDERS.get(order)
        if status is None:
            dispatcher.utter_message(text=f"I have no order {order}.")
            return [SlotSet("order_status", None)]
        intent = tracker.latest_message["intent"]["name"]
        entities = ",".join(e["entity"] for e in tracker.latest_message.get("entities", []))
        dispatcher.utter_message(
            text=f"Order {order} is {status} (from {tracker.sender_id} on {tracker.get_latest_input_channel()}, "
            f"intent {intent}, entities {entities}).",
            buttons=[{"title": "Refund it", "payload": "/refund_request"}],
        )
        return [SlotSet("order_status", status), FollowupAction("action_anything_else")]


class AnythingElse(Action):
    def name(self) -> Text:
        return "action_anything_else"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        dispatcher.utter_message(text=f"Anything else about {tracker.get_slot('order_id')}?")
        return []


class Forget(Action):
    def name(self) -> Text:
        return "action_forget"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        dispatcher.utter_message(text=f"Forgotten {len(tracker.current_slot_values())} slots.")
        return [AllSlotsReset()]


class Fails(Action):
    def name(self) -> Text:
        return "action_fails"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict]:
        raise RuntimeError("the backend exploded")

//! The engine's own responses, used when the intent files do not override
//! them (see `SYSTEM_RESPONSES` in the loader).

use usher_channel::Button;

use crate::intents::Response;

/// The built-in variation for a system response.
pub fn default_response(name: &str) -> Response {
    let text = match name {
        "clarify" => "Sorry, I'm not sure I understood. Did you mean one of these?",
        "offer_human" => "I'm having trouble helping with this. Would you like to talk to a person?",
        "handoff" => "I'm handing you over to a member of our support team. A person will answer here shortly.",
        "handoff_waiting" => "A person will answer here shortly.",
        "form_cancelled" => "Okay, I've cancelled that. Anything else I can help with?",
        "continue" => "Okay! Try asking another way, for example \"I want a refund\".",
        "kb_answer" => "{answer}\n\n{source}",
        "kb_unsure" => "I'm not sure I have the right answer to that. Would you like to talk to a person?",
        "not_available" => "Not available yet: {feature} is coming in a future version of this bot.",
        "action_not_found" => "I couldn't find that. Could you check the details and try again?",
        "action_refused" => "Sorry, that can't be done for this booking. A person can look at it with you.",
        "action_failed" => {
            "Sorry, I can't check that right now: our system isn't answering. Would you like to talk to a person?"
        }
        _ => "Sorry, something went wrong on my side.",
    };
    let buttons = if matches!(name, "offer_human" | "kb_unsure" | "action_failed" | "action_refused") {
        vec![
            Button { title: "Talk to a person".into(), payload: "/talk_to_human".into() },
            Button { title: "No thanks, I'll rephrase".into(), payload: "/continue".into() },
        ]
    } else {
        Vec::new()
    };
    Response { text: text.into(), buttons }
}

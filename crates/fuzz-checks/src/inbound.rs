//! Inbound decoding: whatever a client sends is either refused with a
//! reason or becomes a message that survives the engine's round trip.

use usher_channel::{ConversationId, Inbound, MessageBody, MAX_TEXT_BYTES};
use usher_webchat::protocol::ClientFrame;

/// Feeds `data` to the REST body decoder, the web chat frame decoder and the
/// conversation id check.
pub fn inbound(data: &[u8]) {
    let conversation = ConversationId::new("fuzz").expect("a valid id");
    match MessageBody::decode(data) {
        Ok(body) => check_message(body.into_inbound(conversation.clone(), "api")),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    match ClientFrame::decode(text) {
        Ok(frame) => check_message(frame.into_inbound(conversation).1),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    if let Ok(id) = ConversationId::new(text) {
        assert!((1..=128).contains(&id.as_str().len()), "id of {} bytes accepted", id.as_str().len());
        let json = serde_json::to_string(&id).expect("an id serializes");
        let back: ConversationId = serde_json::from_str(&json).expect("an accepted id reads back");
        assert_eq!(back, id);
    }
}

/// A message the decoders accept is either refused by the shared limits with
/// a reason or stored and read back unchanged.
fn check_message(inbound: Inbound) {
    match inbound.validate() {
        Ok(()) => {
            let size = inbound.text.len() + inbound.payload.as_deref().map_or(0, str::len);
            assert!(size <= MAX_TEXT_BYTES, "{size} bytes accepted");
            let json = serde_json::to_vec(&inbound).expect("an inbound message serializes");
            let back: Inbound = serde_json::from_slice(&json).expect("a stored message reads back");
            assert_eq!(back, inbound);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

//! Who may act for a conversation through the public routes (the web chat
//! socket, the REST API): the contract between the routes, which read a
//! credential off a request, and the engine's side, which issues and checks
//! them ([`Gate`]).
//!
//! A web conversation is opened with [`Gate::open`], which returns its id and
//! a secret token; every later request for it presents the token. Ids in a
//! channel's namespace (`telegram:42`, `discord:7`: any `name:` prefix) are
//! closed to the public routes whatever is presented.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{ConversationId, Error};

/// Longest credential (token or API key) accepted, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 256;

/// A web conversation and the secret that opens it, shown to its client once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// The conversation id.
    pub conversation: ConversationId,
    /// The secret token (the store keeps only its hash).
    pub token: String,
}

/// A signed-in customer of the service's own site, vouched for by an HMAC
/// of their user id under the secret the site shares with Usher.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The site's own id of the customer.
    pub user_id: String,
    /// Hex HMAC-SHA256 of `user_id` under the shared secret.
    pub user_hash: String,
}

/// Issues and checks conversation credentials.
#[async_trait]
pub trait Gate: Send + Sync + 'static {
    /// Opens a web conversation: a new one, or the verified customer's own
    /// (the same on every device), with a fresh token for this client.
    async fn open(&self, identity: Option<Identity>) -> Result<WebSession, Error>;

    /// `Ok` when `credential` may act for `conversation`; otherwise why not
    /// (missing, malformed, wrong, rate limited, closed namespace).
    async fn admit(&self, conversation: &ConversationId, credential: Option<&str>) -> Result<(), Error>;
}

/// Refuses ids in a channel's namespace (`telegram:42`).
pub fn public(conversation: &ConversationId) -> Result<(), Error> {
    match conversation.as_str().split_once(':') {
        Some((channel, _)) => {
            Err(Error::ClosedNamespace { conversation: conversation.to_string(), channel: channel.to_string() })
        }
        None => Ok(()),
    }
}

/// Checks a presented token or key: 1 to 256 bytes of printable ASCII.
pub fn credential(raw: &[u8]) -> Result<&str, Error> {
    if raw.is_empty() {
        return Err(Error::MalformedCredential("it is empty"));
    }
    if raw.len() > MAX_CREDENTIAL_BYTES {
        return Err(Error::MalformedCredential("it is longer than 256 bytes"));
    }
    if !raw.iter().all(u8::is_ascii_graphic) {
        return Err(Error::MalformedCredential("it must be printable ASCII without spaces"));
    }
    // All ASCII, so this cannot fail.
    std::str::from_utf8(raw).map_err(|_| Error::MalformedCredential("it must be printable ASCII without spaces"))
}

/// Reads an `Authorization` header value: `Bearer <credential>`.
pub fn bearer(value: &[u8]) -> Result<&str, Error> {
    let scheme = b"bearer ";
    if value.len() < scheme.len() || !value[..scheme.len()].eq_ignore_ascii_case(scheme) {
        return Err(Error::MalformedCredential("the Authorization header must be `Bearer <token>`"));
    }
    credential(&value[scheme.len()..])
}

/// The subprotocol a browser socket offers besides [`SUBPROTOCOL`] to carry
/// its token (a browser cannot set headers on a WebSocket):
/// `usher-token.<token>`.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "usher-token.";

/// The subprotocol the server selects.
pub const SUBPROTOCOL: &str = "usher";

/// The token carried in a `Sec-WebSocket-Protocol` header value, if any.
pub fn subprotocol_token(value: &[u8]) -> Option<Result<&str, Error>> {
    let text = std::str::from_utf8(value).ok()?;
    text.split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .map(|t| credential(t.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_namespaces_are_closed() {
        for id in ["telegram:42", "discord:7", "whatsapp:1", "a:b"] {
            let err = public(&ConversationId::new(id).unwrap()).unwrap_err();
            assert!(matches!(err, Error::ClosedNamespace { .. }), "{id}");
            assert_eq!(err.http_status(), 403);
        }
        assert!(public(&ConversationId::new("web-0123abcd").unwrap()).is_ok());
    }

    #[test]
    fn credentials_are_short_printable_ascii() {
        assert_eq!(credential(b"abc-123").unwrap(), "abc-123");
        for bad in [&b""[..], &[b'a'; 257][..], "tökén".as_bytes(), b"two words", b"tab\there"] {
            let err = credential(bad).unwrap_err();
            assert!(matches!(err, Error::MalformedCredential(_)), "{bad:?}");
            assert_eq!(err.http_status(), 401);
        }
        assert!(credential(&[b'a'; 256]).is_ok());
    }

    #[test]
    fn bearer_headers_and_subprotocols() {
        assert_eq!(bearer(b"Bearer k3y").unwrap(), "k3y");
        assert_eq!(bearer(b"bearer k3y").unwrap(), "k3y");
        assert!(bearer(b"Basic dXNlcjpwYXNz").is_err());
        assert!(bearer(b"Bearer ").is_err());
        assert_eq!(subprotocol_token(b"usher, usher-token.abc").unwrap().unwrap(), "abc");
        assert!(subprotocol_token(b"usher").is_none());
        assert!(subprotocol_token(b"usher, usher-token.").unwrap().is_err());
    }
}

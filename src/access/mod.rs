//! Access control on the public routes (OWASP API1: object-level
//! authorisation). A conversation is readable and writable only with its
//! own credential:
//!
//! - **web chat sessions**: `POST /api/v1/webchat/sessions` opens a
//!   conversation and returns its id with a random 256-bit token, stored as
//!   its SHA-256; the widget presents it on every history fetch, message and
//!   socket;
//! - **API keys** (`USHER_API_KEYS`, comma-separated) for a service's own
//!   backend acting for its customers: `Authorization: Bearer <key>`,
//!   compared by hash in constant time, rate limited per key;
//! - **identity verification** (`USHER_WEBCHAT_IDENTITY_SECRET`): the
//!   service's site passes its user id with an HMAC-SHA256 of it, and gets
//!   that customer's own conversation on every device.
//!
//! Ids in a channel's namespace (`telegram:42`) are refused whatever is
//! presented: those conversations are reached only through their channel
//! and the agent console.
//!
//! # Layout
//! - [`config`]: the `access:` section (rate limits).
//! - this file: [`Secrets`] from the environment and [`Access`], the
//!   engine's [`Gate`].

pub mod config;

pub use config::AccessConfig;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use usher_channel::access::{self, Identity, WebSession};
use usher_channel::{constant_time_eq, ConversationId, Gate};

use crate::limit::Limiter;
use crate::store::Store;
use crate::Error;

type Channel = usher_channel::Error;

/// Shortest API key or identity secret accepted.
pub const MIN_SECRET_BYTES: usize = 16;

/// The secrets access control reads from the environment.
#[derive(Clone, Default)]
pub struct Secrets {
    /// `USHER_API_KEYS`: keys for server-to-server calls.
    pub api_keys: Vec<String>,
    /// `USHER_WEBCHAT_IDENTITY_SECRET`: the HMAC key shared with the site.
    pub identity_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("api_keys", &self.api_keys.len())
            .field("identity_secret", &self.identity_secret.is_some())
            .finish()
    }
}

impl Secrets {
    /// Reads `USHER_API_KEYS` and `USHER_WEBCHAT_IDENTITY_SECRET`.
    pub fn from_env() -> Result<Self, Error> {
        Self::parse(
            std::env::var("USHER_API_KEYS").ok().as_deref(),
            std::env::var("USHER_WEBCHAT_IDENTITY_SECRET").ok().as_deref(),
        )
    }

    /// Parses the variables' values: keys are comma-separated, each 16 to
    /// 256 printable ASCII characters; an error names the variable and the
    /// key's position, never the key.
    pub fn parse(api_keys: Option<&str>, identity_secret: Option<&str>) -> Result<Self, Error> {
        let mut keys = Vec::new();
        for (i, key) in api_keys.unwrap_or_default().split(',').map(str::trim).enumerate() {
            if key.is_empty() {
                continue;
            }
            check_secret(key).map_err(|why| Error::Environment {
                name: "USHER_API_KEYS",
                message: format!("key {} {why}", i + 1),
            })?;
            keys.push(key.to_string());
        }
        let identity_secret = identity_secret.map(str::trim).filter(|s| !s.is_empty());
        if let Some(secret) = identity_secret {
            check_secret(secret).map_err(|why| Error::Environment {
                name: "USHER_WEBCHAT_IDENTITY_SECRET",
                message: format!("the secret {why}"),
            })?;
        }
        Ok(Self { api_keys: keys, identity_secret: identity_secret.map(String::from) })
    }
}

fn check_secret(secret: &str) -> Result<(), String> {
    match access::credential(secret.as_bytes()) {
        Err(Channel::MalformedCredential(why)) => return Err(format!("is invalid: {why}")),
        Err(other) => return Err(other.to_string()),
        Ok(_) => {}
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!("is shorter than {MIN_SECRET_BYTES} characters"));
    }
    Ok(())
}

/// Who a request acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The conversation's own client (its web chat token).
    Fan,
    /// A backend with the API key at this position in `USHER_API_KEYS`.
    Service {
        /// The key's position (0-based).
        key: usize,
    },
}

/// Issues web chat sessions and checks every credential on the public routes.
pub struct Access {
    store: Arc<dyn Store>,
    /// SHA-256 of each API key.
    keys: Vec<[u8; 32]>,
    identity_secret: Option<Vec<u8>>,
    wrong_tokens: Arc<Limiter<ConversationId>>,
    per_key: Arc<Limiter<usize>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").field("api_keys", &self.keys.len()).finish_non_exhaustive()
    }
}

impl Access {
    /// Access control over `store` with `secrets`.
    pub fn new(store: Arc<dyn Store>, config: &AccessConfig, secrets: &Secrets) -> Arc<Self> {
        Arc::new(Self {
            store,
            keys: secrets.api_keys.iter().map(|k| Sha256::digest(k.as_bytes()).into()).collect(),
            identity_secret: secrets.identity_secret.as_ref().map(|s| s.as_bytes().to_vec()),
            wrong_tokens: Limiter::new(
                config.wrong_token_per_minute,
                Duration::from_secs(60),
                config.wrong_token_burst,
            ),
            per_key: Limiter::new(config.api_key_per_second, Duration::from_secs(1), config.api_key_burst),
        })
    }

    /// Who `credential` lets act for `conversation`, or why it does not.
    /// Channel namespaces are refused first; then an API key is looked for,
    /// then the conversation's session tokens (each compared in constant
    /// time). A wrong token counts against the conversation's limit; the
    /// right one is never limited by it.
    #[tracing::instrument(level = "debug", skip_all, fields(conversation = %conversation))]
    pub async fn authorize(&self, conversation: &ConversationId, credential: Option<&str>) -> Result<Caller, Error> {
        access::public(conversation)?;
        let credential = credential.ok_or(Channel::MissingCredential)?;
        let digest: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        if let Some(key) = self.key_of(&digest) {
            return self.count_key(key).map(|()| Caller::Service { key });
        }
        let hashes = self.store.web_session_hashes(conversation).await?;
        let presented = hex(&digest);
        let matched =
            hashes.iter().fold(false, |hit, stored| hit | constant_time_eq(stored.as_bytes(), presented.as_bytes()));
        if matched {
            return Ok(Caller::Fan);
        }
        self.wrong_tokens.check(conversation).map_err(|retry_after| Channel::TooManyAttempts {
            what: format!("conversation {conversation}"),
            retry_after,
        })?;
        Err(Channel::WrongCredential { conversation: conversation.to_string() }.into())
    }

    /// The API key a credential is, for routes only services may call
    /// (`/api/v1/admin/*`).
    pub fn service(&self, credential: Option<&str>) -> Result<usize, Error> {
        let credential = credential.ok_or(Channel::MissingCredential)?;
        let digest: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        let key = self.key_of(&digest).ok_or_else(|| Channel::WrongCredential { conversation: "admin".into() })?;
        self.count_key(key).map(|()| key)
    }

    /// The position of the key whose hash is `digest`; every key is
    /// compared, whichever matches.
    fn key_of(&self, digest: &[u8; 32]) -> Option<usize> {
        self.keys
            .iter()
            .enumerate()
            .fold(None, |found, (i, k)| if constant_time_eq(k, digest) { Some(i) } else { found })
    }

    fn count_key(&self, key: usize) -> Result<(), Error> {
        self.per_key.check(&key).map_err(|retry_after| {
            Channel::TooManyAttempts { what: format!("API key {}", key + 1), retry_after }.into()
        })
    }

    /// Opens a web conversation for a new fan, or the verified customer's own.
    #[tracing::instrument(level = "debug", skip_all, fields(verified = identity.is_some()))]
    pub async fn open_session(&self, identity: Option<Identity>) -> Result<WebSession, Error> {
        let conversation = match identity {
            None => ConversationId::new(format!("web-{}", crate::util::random_hex(12)))?,
            Some(identity) => self.verified_conversation(&identity)?,
        };
        let token = crate::util::random_hex(32);
        self.store.open_web_session(&conversation, &crate::util::sha256_hex(token.as_bytes())).await?;
        Ok(WebSession { conversation, token })
    }

    /// The conversation of a customer whose `user_hash` is the HMAC of
    /// their id: derived from the id under the secret, so it is the same on
    /// every device and cannot be guessed from the id alone.
    fn verified_conversation(&self, identity: &Identity) -> Result<ConversationId, Error> {
        let secret = self.identity_secret.as_deref().ok_or(Channel::IdentityNotConfigured)?;
        let user = identity.user_id.as_str();
        if user.is_empty() || user.len() > 256 || user.chars().any(char::is_control) {
            return Err(Error::Invalid("user_id must be 1 to 256 characters without control characters".into()));
        }
        let expected = hmac_hex(secret, user.as_bytes());
        if !constant_time_eq(expected.as_bytes(), identity.user_hash.to_ascii_lowercase().as_bytes()) {
            return Err(Channel::WrongIdentity.into());
        }
        let derived = hmac_hex(secret, format!("usher conversation\0{user}").as_bytes());
        Ok(ConversationId::new(format!("web-u-{}", &derived[..32]))?)
    }
}

/// The hex HMAC-SHA256 of `message` under `key`: what a site computes for
/// identity verification.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the routes see of an engine error: the channel's own errors as
/// they are, anything else (the store down) as "cannot check now".
fn for_routes(e: Error) -> Channel {
    match e {
        Error::Channel(c) => c,
        Error::Invalid(message) => Channel::InvalidJson(message),
        other => {
            tracing::error!(error = %other, "credential check failed");
            Channel::AccessUnavailable("the store did not answer".into())
        }
    }
}

#[async_trait]
impl Gate for Access {
    async fn open(&self, identity: Option<Identity>) -> Result<WebSession, Channel> {
        self.open_session(identity).await.map_err(for_routes)
    }

    async fn admit(&self, conversation: &ConversationId, credential: Option<&str>) -> Result<(), Channel> {
        self.authorize(conversation, credential).await.map(drop).map_err(for_routes)
    }
}

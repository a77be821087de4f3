//! Live sockets by conversation, and the [`WebChat`] adapter that feeds them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};
use usher_channel::{Adapter, Context, ConversationId, Error, Gate, InboundSender, Outbound};

use crate::protocol::ServerFrame;
use crate::{Config, CHANNEL};

pub(crate) type SocketTx = mpsc::UnboundedSender<ServerFrame>;

/// State shared by the adapter task and the HTTP routes.
pub(crate) struct Hub {
    pub config: Config,
    /// Issues and checks the conversations' tokens.
    pub gate: Arc<dyn Gate>,
    /// Set when the adapter starts: the way into the engine.
    pub output: OnceLock<InboundSender>,
    sockets: Mutex<HashMap<ConversationId, Vec<(u64, SocketTx)>>>,
    next_socket: AtomicU64,
    /// Flips to true on shutdown: sockets close.
    pub closing: watch::Sender<bool>,
}

impl Hub {
    pub fn register(&self, conversation: &ConversationId, tx: SocketTx) -> u64 {
        let id = self.next_socket.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.entry(conversation.clone()).or_default().push((id, tx));
        id
    }

    pub fn unregister(&self, conversation: &ConversationId, id: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = sockets.get_mut(conversation) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                sockets.remove(conversation);
            }
        }
    }

    /// Sends a reply to every open socket of its conversation; true if one
    /// took it. With none open the reply stays in the store, undelivered;
    /// the widget loads it with the history on reconnect.
    fn deliver(&self, reply: Outbound) -> bool {
        let sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = sockets.get(&reply.conversation) else {
            return false;
        };
        let mut taken = false;
        for (_, tx) in list {
            taken |= tx.send(ServerFrame::Reply { id: reply.id, parts: reply.parts.clone() }).is_ok();
        }
        taken
    }
}

/// The web chat adapter. Create it with [`WebChat::new`], merge the returned
/// router into the server and start the adapter on the engine.
pub struct WebChat {
    hub: Arc<Hub>,
}

impl WebChat {
    /// The adapter and the routes it serves (`/ws`, `/widget.js`, `/`,
    /// `POST /api/v1/webchat/sessions`); `gate` opens conversations and
    /// checks the token every socket presents.
    pub fn new(config: Config, gate: Arc<dyn Gate>) -> (Self, axum::Router) {
        let hub = Arc::new(Hub {
            config,
            gate,
            output: OnceLock::new(),
            sockets: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
            closing: watch::channel(false).0,
        });
        let router = crate::routes::router(Arc::clone(&hub));
        (Self { hub }, router)
    }
}

#[async_trait]
impl Adapter for WebChat {
    fn name(&self) -> &str {
        CHANNEL
    }

    fn holds_connections(&self) -> bool {
        true
    }

    async fn run(self: Box<Self>, ctx: Context) -> Result<(), Error> {
        let Context { output, mut replies, mut shutdown, receipts } = ctx;
        let _ = self.hub.output.set(output);
        let deliver = |reply: Outbound| {
            let id = reply.id;
            if self.hub.deliver(reply) {
                receipts.delivered(id);
            }
        };
        loop {
            tokio::select! {
                reply = replies.recv() => match reply {
                    Some(reply) => deliver(reply),
                    None => break,
                },
                _ = shutdown.recv() => break,
            }
        }
        // Flush what is already queued, then close the sockets.
        while let Ok(reply) = replies.try_recv() {
            deliver(reply);
        }
        self.hub.closing.send_replace(true);
        Ok(())
    }
}

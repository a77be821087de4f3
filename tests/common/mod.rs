//! Helpers shared by the integration tests: a real engine over a temporary
//! SQLite store, and a collecting channel that plays the fan.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use usher::config::Config;
use usher::engine::{Brain, Engine};
use usher::store::{SqliteStore, Transcript};
use usher_channel::{Adapter, Context, ConversationId, Inbound, InboundSender, Outbound, Part, Shutdown};

pub mod postgres;
pub mod server;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The API key the tests' servers accept (`USHER_API_KEYS`).
pub const API_KEY: &str = "test-api-key-0123456789";

/// Access control over `engine`'s store accepting [`API_KEY`].
pub fn access(engine: &Engine) -> Arc<usher::access::Access> {
    let secrets = usher::access::Secrets::parse(Some(API_KEY), None).unwrap();
    usher::access::Access::new(engine.store().clone(), &usher::access::AccessConfig::default(), &secrets)
}

/// The HTTP state of `engine`, accepting [`API_KEY`].
pub fn app_state(engine: &Engine) -> usher::http::AppState {
    usher::http::AppState::new(engine.clone(), access(engine))
}

/// Where the shipped intents' `encore` endpoint points in configs that
/// start no backend: a closed port, so their actions end in `error`.
pub const NO_BACKEND: &str = "http://127.0.0.1:9";

/// A copy of the shipped intent files in `dir/intents`, to edit.
pub fn shipped_intents(dir: &Path) -> PathBuf {
    let intents = dir.join("intents");
    std::fs::create_dir(&intents).unwrap();
    for entry in std::fs::read_dir(repo().join("intents")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, intents.join(p.file_name().unwrap())).unwrap();
    }
    intents
}

/// A config over the shipped intents with its data in `data_dir`.
pub fn config(data_dir: &Path) -> Config {
    let mut c =
        Config::parse(&format!("actions: {{endpoints: {{encore: {{url: \"{NO_BACKEND}\", timeout_ms: 2000}}}}}}"))
            .unwrap();
    c.intents = repo().join("intents");
    c.data_dir = data_dir.to_path_buf();
    // The engine tests use the download-free classifier; tests/it/encoder.rs covers MiniLM.
    // Without the encoder, sentiment is read by the small word GRU.
    c.nlu.encoder = None;
    c.nlu.sentiment = Some(repo().join("models/sentiment-words"));
    c
}

/// The demo domain's brain; the trained model is cached once for all tests.
pub fn brain() -> Brain {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shared-model-cache");
    let (brain, _, _) =
        usher::bootstrap::brain(&config(&cache), usher::nlu::Features::Ngrams, None, &mut |_, _, _| {}).unwrap();
    brain
}

/// An engine over a fresh SQLite store in `dir`, its actions calling a
/// fresh Encore demo backend (`examples/encore-backend`) on loopback.
pub async fn engine(dir: &Path) -> Engine {
    let engine = engine_without_backend(dir).await;
    let url = demo_backend(dir).await;
    engine.set_actions(Arc::new(actions_to(&url)));
    engine
}

/// An engine whose actions reach no backend (every call is an `error`).
pub async fn engine_without_backend(dir: &Path) -> Engine {
    let store = SqliteStore::open(&dir.join("usher.db")).await.unwrap();
    let brain = tokio::task::spawn_blocking(brain).await.unwrap();
    let engine = Engine::new(Arc::new(store), brain);
    engine.set_actions(Arc::new(actions_to(NO_BACKEND)));
    engine
}

/// The shipped intents' actions, with `encore` at `url`.
pub fn actions_to(url: &str) -> usher::actions::Actions {
    let yaml = format!("endpoints: {{encore: {{url: \"{url}\", timeout_ms: 2000}}}}");
    usher::actions::Actions::new(&serde_yaml::from_str(&yaml).unwrap()).unwrap()
}

/// Starts the demo backend with its data in `dir`; returns its URL.
pub async fn demo_backend(dir: &Path) -> String {
    let db = encore_backend::open(&dir.join("encore-backend.sqlite")).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, encore_backend::router(db, None)).await.unwrap() });
    format!("http://{addr}")
}

/// A fan in conversation `conversation` on a fresh engine; keep the dir alive.
pub async fn fan(conversation: &str) -> (tempfile::TempDir, Fan) {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path()).await;
    let fan = Fan::new(&engine, conversation).await;
    (dir, fan)
}

/// The collecting channel: an adapter that hands its context to the test.
pub struct Collector {
    ready: oneshot::Sender<(InboundSender, mpsc::Receiver<Outbound>)>,
}

#[async_trait]
impl Adapter for Collector {
    fn name(&self) -> &str {
        "collect"
    }

    async fn run(self: Box<Self>, ctx: Context) -> Result<(), usher_channel::Error> {
        let Context { output, replies, mut shutdown, .. } = ctx;
        let _ = self.ready.send((output, replies));
        shutdown.recv().await;
        Ok(())
    }
}

/// A fan talking through the collecting channel.
pub struct Fan {
    pub conversation: ConversationId,
    engine: Engine,
    output: InboundSender,
    replies: mpsc::Receiver<Outbound>,
}

pub async fn collector(engine: &Engine, shutdown: Shutdown) -> (InboundSender, mpsc::Receiver<Outbound>) {
    let (ready, rx) = oneshot::channel();
    engine.start_adapter(Box::new(Collector { ready }), shutdown);
    rx.await.unwrap()
}

impl Fan {
    pub async fn new(engine: &Engine, conversation: &str) -> Fan {
        let (_trigger, shutdown) = Shutdown::new();
        std::mem::forget(_trigger); // the collector runs until the test ends
        let (output, replies) = collector(engine, shutdown).await;
        Fan { conversation: ConversationId::new(conversation).unwrap(), engine: engine.clone(), output, replies }
    }

    /// Sends text; returns the replies once the store shows the turn done.
    pub async fn say(&mut self, text: &str) -> Vec<Vec<Part>> {
        self.send(Inbound::text(self.conversation.clone(), "collect", text)).await
    }

    /// Presses a button.
    pub async fn press(&mut self, payload: &str) -> Vec<Vec<Part>> {
        let mut inbound = Inbound::text(self.conversation.clone(), "collect", "");
        inbound.payload = Some(payload.to_string());
        self.send(inbound).await
    }

    pub async fn send(&mut self, inbound: Inbound) -> Vec<Vec<Part>> {
        let id = self.output.submit(inbound).await.unwrap().message_id;
        let expected = self.wait_processed(id).await;
        let mut got = Vec::new();
        for _ in 0..expected {
            let reply = tokio::time::timeout(Duration::from_secs(10), self.replies.recv()).await.unwrap().unwrap();
            assert_eq!(reply.conversation, self.conversation);
            got.push(reply.parts);
        }
        got
    }

    /// Waits until message `id` is processed; returns how many replies the store holds for it.
    async fn wait_processed(&self, id: i64) -> usize {
        for _ in 0..500 {
            let t = self.transcript().await;
            if let Some(pos) = t.messages.iter().position(|m| m.id == id && m.nlu.is_some()) {
                return t.messages[pos + 1..].iter().take_while(|m| m.direction == "out").count();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("message {id} was not processed within 10 s");
    }

    pub async fn transcript(&self) -> Transcript {
        self.engine.transcript(&self.conversation).await.unwrap().unwrap()
    }
}

/// A web chat socket.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to a web chat socket at `url` presenting `token` the way the
/// widget does (the `usher-token.` subprotocol).
pub async fn socket(url: &str, token: &str) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request()?;
    let protocols = format!("usher, usher-token.{token}");
    req.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

/// All text of a reply.
pub fn text(parts: &[Part]) -> String {
    usher_channel::render_plain(parts)
}

/// The button payloads of a reply.
pub fn payloads(parts: &[Part]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| match p {
            Part::Buttons { buttons } => buttons.iter().map(|b| b.payload.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The shipped creative models (poem, melody, emotions) and the config
/// pointing at them, for a config over `data_dir`.
pub fn creative_config(data_dir: &Path) -> Config {
    let mut config = config(data_dir);
    config.creative.poem = repo().join("models/poem");
    config.creative.melody = repo().join("models/melody");
    config.creative.emotions = repo().join("models/emotions");
    config
}

/// Loads the creative tools of `config` (off the runtime) into `engine`.
pub async fn attach_tools(engine: &Engine, config: Config) {
    let tools = tokio::task::spawn_blocking(move || {
        let encoder = usher::bootstrap::encoder(&config);
        usher::creative::tools::Toolset::load(&config, usher::bootstrap::sentiment(&config, encoder.as_ref()))
    })
    .await
    .unwrap();
    engine.set_tools(Arc::new(tools));
}

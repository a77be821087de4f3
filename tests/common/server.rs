//! `usher serve` as a child process on a free port, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A temporary data dir and a config over the shipped intents (n-gram
/// classifier, shipped sentiment model, no knowledge base), plus `extra`
/// YAML appended verbatim.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    write_config_http(dir, "", extra)
}

/// As [`write_config`], with `http` fields (`"ip_burst: 3, "`) added.
pub fn write_config_http(dir: &Path, http: &str, extra: &str) -> PathBuf {
    let repo = super::repo();
    let config = dir.join("config.yaml");
    // The shipped intents' actions need their endpoint; unless `extra` says
    // otherwise it is a closed port (actions answer that they cannot check).
    let actions = if extra.contains("actions:") {
        String::new()
    } else {
        format!("actions: {{endpoints: {{encore: {{url: \"{}\"}}}}}}\n", super::NO_BACKEND)
    };
    let yaml = format!(
        "http: {{{http}host: 127.0.0.1, port: 0}}\ndata_dir: {}\nintents: {}\nnlu: {{encoder: null, sentiment: {}}}\nknowledge: {{enabled: false}}\n{actions}{extra}",
        dir.join("data").display(),
        repo.join("intents").display(),
        repo.join("models/sentiment-words").display(),
    );
    std::fs::write(&config, yaml).unwrap();
    config
}

/// A server shared by the tests of one test binary (keep it in a `static`),
/// with its data dir and config, and per-address limits high enough for
/// many calls from one address.
pub struct Shared {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub server: Server,
}

impl Shared {
    /// Writes the config, runs `prepare` on it (adding agents, say), starts the server.
    pub fn start(prepare: impl FnOnce(&Path)) -> Shared {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config_http(dir.path(), "ip_per_second: 1000, ip_burst: 5000, ", "");
        prepare(&config);
        let server = Server::start_shared(&config);
        Shared { dir, config, server }
    }
}

/// A running server.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    /// Starts `usher serve --config CONFIG` with `env`, waiting (up to 3
    /// minutes: the first start trains the classifier) until it listens.
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
        cmd.arg("serve").arg("--config").arg(config);
        Self::spawn(cmd, config, env)
    }

    /// As [`Server::start`], for a server kept in a `static` and shared by
    /// a test binary's tests: statics are never dropped, so a shell holds
    /// the server and kills it when the test process exits (its stdin, our
    /// pipe, closes).
    pub fn start_shared(config: &Path) -> Server {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "\"$0\" serve --config \"$1\" <&- & p=$!; read _; kill -9 $p", env!("CARGO_BIN_EXE_usher")])
            .arg(config)
            .stdin(Stdio::piped());
        Self::spawn(cmd, config, &[])
    }

    fn spawn(mut cmd: Command, config: &Path, env: &[(&str, &str)]) -> Server {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env("USHER_API_KEYS", super::API_KEY);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("usher listening on http://") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let log = dir_log(config);
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                use std::io::Write;
                let _ = writeln!(out, "{line}");
            }
        });
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(addr) => Server { child, addr },
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start:\n{}", std::fs::read_to_string(dir_log(config)).unwrap_or_default());
            }
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Opens a web chat session: the conversation id and its token.
    pub async fn session(&self) -> (String, String) {
        let res = reqwest::Client::new().post(self.http("/api/v1/webchat/sessions")).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let v: serde_json::Value = res.json().await.unwrap();
        (v["conversation"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
    }

    /// Opens a web chat session and its socket (the token as a subprotocol).
    pub async fn socket(&self) -> (String, super::Socket) {
        let (conversation, token) = self.session().await;
        let socket = super::socket(&self.ws(&format!("/ws?conversation={conversation}")), &token).await.unwrap();
        (conversation, socket)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where a server's stderr goes (beside its config).
pub fn dir_log(config: &Path) -> PathBuf {
    config.with_extension("log")
}

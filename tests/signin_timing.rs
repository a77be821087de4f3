//! Sign-in takes as long for a name that does not exist as for one that
//! does (an unknown name is checked against a dummy argon2 hash), so timing
//! does not tell which names are agents. Alone in its test binary: the
//! medians need a machine no other test of this binary is loading.

mod common;

use std::time::{Duration, Instant};

use common::server::{write_config_http, Server};

#[tokio::test]
async fn unknown_and_known_names_take_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    // Enough attempts for the measurement under the sign-in limit.
    let config = write_config_http(dir.path(), "", "handoff: {login_attempts_per_minute: 50}\n");
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_usher"));
    add.args(["agents", "add", "known", "--password-stdin", "--config"]).arg(&config);
    let mut child = add.stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"known-password\n").unwrap();
    assert!(child.wait().unwrap().success());
    let server = Server::start(&config, &[]);
    let client = reqwest::Client::new();
    let time = |name: &'static str| {
        let (client, url) = (client.clone(), server.http("/console/api/login"));
        async move {
            let started = Instant::now();
            let res =
                client.post(url).json(&serde_json::json!({"name": name, "password": "wrong-password"})).send().await;
            assert_eq!(res.unwrap().status(), 401);
            started.elapsed()
        }
    };
    time("warm-up").await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Interleaved, so drift in the machine's speed hits both alike.
    for _ in 0..9 {
        known.push(time("known").await);
        unknown.push(time("nobody-by-this-name").await);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    println!("median sign-in: known {:.1} ms, unknown {:.1} ms", k * 1e3, u * 1e3);
    assert!(k > 0.005, "a known name runs argon2 ({k} s)");
    let ratio = u / k;
    assert!((0.8..=1.25).contains(&ratio), "unknown/known = {ratio:.2}: timing tells names apart");
}

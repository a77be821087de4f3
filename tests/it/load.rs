//! `usher bench load` as a user runs it: against a server with the default
//! limits (it backs off on 429 and says so), open loop, bad arguments, and
//! a server that dies mid-run.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::server::{write_config, Server};

fn load(server: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["bench", "load", "--url", &server.ws("/ws"), "--json", "--timeout", "120"])
        .args(args)
        .output()
        .unwrap()
}

fn report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_default_limits_shape_a_run_but_do_not_break_it() {
    let dir = tempfile::tempdir().unwrap();
    // The default per-address limit (20/s, burst 100) cannot take 60
    // sessions, 60 sockets and 60 read-backs at once.
    let server = Server::start(&write_config(dir.path(), ""), &[]);
    let out = load(&server, &["--fans", "60", "--messages", "2"]);
    let r = report(&out);
    assert!(out.status.success(), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["mode"].as_str(), r["answered"].as_u64()), (Some("closed"), Some(120)), "{r}");
    assert_eq!((r["lost"].as_u64(), r["duplicated"].as_u64(), r["out_of_order"].as_u64()), (Some(0), Some(0), Some(0)));
    assert!(r["limited_requests"].as_u64().unwrap() > 0, "{r}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("the server's limits shaped this run"));
}

#[test]
fn an_open_loop_sends_poisson_arrivals_and_checks_them_against_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::server::write_config_http(dir.path(), "ip_per_second: 1000, ip_burst: 5000, ", "");
    let server = Server::start(&config, &[]);
    let out = load(&server, &["--fans", "20", "--rate", "15", "--duration", "3"]);
    let r = report(&out);
    assert!(out.status.success(), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r["mode"], "open");
    let offered = r["offered"].as_u64().unwrap();
    // 45 expected; a Poisson count is within 25..70 but for 1 in 10,000 seeds.
    assert!((25..=70).contains(&offered), "{r}");
    assert_eq!(r["answered"].as_u64(), Some(offered), "{r}");
    assert_eq!((r["lost"].as_u64(), r["duplicated"].as_u64(), r["out_of_order"].as_u64()), (Some(0), Some(0), Some(0)));
    assert_eq!(r["limited_requests"].as_u64(), Some(0), "{r}");
    assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
}

#[test]
fn absurd_counts_rates_and_hosts_are_refused() {
    let usher = || Command::new(env!("CARGO_BIN_EXE_usher"));
    for (args, says) in [
        (&["--fans", "0"][..], "outside 1 to 100,000"),
        (&["--fans", "-4"], "outside 1 to 100,000"),
        (&["--fans", "200000"], "outside 1 to 100,000"),
        (&["--rate", "-3", "--duration", "5"], "outside (0, 100,000]"),
        (&["--rate", "0", "--duration", "5"], "outside (0, 100,000]"),
        (&["--rate", "5"], "--duration"),
    ] {
        let out = usher().args(["bench", "load", "--url", "ws://127.0.0.1:9/ws"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let out = usher().args(["bench", "load", "--url", "ws://192.0.2.7:80/ws"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("only targets loopback addresses"), "{stderr}");
}

#[test]
fn a_server_that_dies_mid_run_ends_the_run_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::server::write_config_http(dir.path(), "ip_per_second: 1000, ip_burst: 5000, ", "");
    let mut server = Server::start(&config, &[]);
    let child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["bench", "load", "--url", &server.ws("/ws"), "--json", "--fans", "10"])
        .args(["--rate", "40", "--duration", "60", "--reply-timeout", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    server.kill();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    // Not the minute of arrivals: the fans stop when their sockets close.
    assert!(killed.elapsed() < Duration::from_secs(30), "took {:?}", killed.elapsed());
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert!(r["errors"].as_u64().unwrap() > 0 && r["answered"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["unverified"].as_u64(), Some(10), "{r}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not be read back"), "{r}");
}

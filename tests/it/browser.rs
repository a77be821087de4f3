//! The web pages we ship in real headless Chromium: Debian's `chromium`
//! driven by `playwright-core`: the web chat widget (tests/browser/widget.mjs)
//! and the agent console with a widget fan (tests/browser/console.mjs), and
//! the demo's backend actions (tests/browser/actions.mjs), recommendations
//! with "Not for me" (tests/browser/recommend.mjs), and a trainer
//! teaching the bot from the console (tests/browser/train.mjs). Needs
//! `npm ci --prefix tests/browser` and the chromium package, which
//! `scripts/test` and `.ci/run` install.

use crate::common;

use std::process::Command;

/// Runs one browser script against a fresh `usher serve`; it prints BROWSER OK.
fn run_script(script: &str) {
    let repo = common::repo();
    let browser_dir = repo.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci --prefix tests/browser` (scripts/test does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "Debian's chromium is missing: `apt-get install chromium` (scripts/test does)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let backend = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new("node")
        .arg(browser_dir.join(script))
        .env("USHER_BIN", env!("CARGO_BIN_EXE_usher"))
        .env("USHER_REPO", &repo)
        .env("USHER_PORT", port.to_string())
        .env("USHER_BACKEND_PORT", backend.to_string())
        .output()
        .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("BROWSER OK"), "stdout:\n{stdout}\nstderr:\n{stderr}");
}

#[test]
fn the_demo_backend_refunds_offers_resale_and_gives_doors_in_chromium() {
    run_script("actions.mjs");
}

#[test]
fn widget_chats_clicks_buttons_keeps_history_and_reconnects_in_chromium() {
    run_script("widget.mjs");
}

#[test]
fn an_agent_takes_over_a_widget_fan_in_the_console_in_chromium() {
    run_script("console.mjs");
}

#[test]
fn a_trainer_teaches_the_bot_a_misread_message_in_chromium() {
    run_script("train.mjs");
}

#[test]
fn a_widget_fan_gets_recommendations_and_not_for_me_changes_them_in_chromium() {
    run_script("recommend.mjs");
}

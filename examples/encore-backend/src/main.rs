//! `encore-backend [--listen ADDR] [--data FILE]`: the demo backend on its
//! own. The signing secret comes from `USHER_ACTIONS_SECRET` (unset: calls
//! are not checked).

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut data) = ("127.0.0.1:8081".to_string(), "data/encore-backend.sqlite".to_string());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or(listen),
            "--data" => data = args.next().unwrap_or(data),
            other => {
                eprintln!("unknown argument {other:?}: use --listen ADDR and --data FILE");
                std::process::exit(2);
            }
        }
    }
    let secret = std::env::var("USHER_ACTIONS_SECRET").ok().filter(|s| !s.is_empty());
    if let Err(e) = encore_backend::run(&listen, std::path::Path::new(&data), secret).await {
        eprintln!("encore-backend: {e}");
        std::process::exit(1);
    }
}

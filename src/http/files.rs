//! `GET /files/{id}/{name}`: files the creative tools generated (a melody's
//! WAV, MIDI and piano roll), fetched by the widget and by the Telegram and
//! Discord adapters before upload. Only generated ids (16 hex digits) and
//! known names are served, so no path can leave the files directory.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppError;

/// Served names and their MIME types.
const KNOWN: [(&str, &str); 3] =
    [("melody.wav", "audio/wav"), ("melody.mid", "audio/midi"), ("melody.png", "image/png")];

/// The route over `dir` (`data_dir/files`).
pub fn router(dir: PathBuf) -> Router {
    Router::new().route("/files/{id}/{name}", get(file)).with_state(dir)
}

async fn file(State(dir): State<PathBuf>, Path((id, name)): Path<(String, String)>) -> Result<Response, AppError> {
    let not_found = || AppError::new(StatusCode::NOT_FOUND, "no such file");
    let valid_id = id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    let mime = KNOWN.iter().find(|(n, _)| *n == name).map(|(_, m)| *m).filter(|_| valid_id).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(dir.join(&id).join(&name)).await.map_err(|_| not_found())?;
    Ok(([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=86400")], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn serves_generated_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("00000000000000ab")).unwrap();
        std::fs::write(dir.path().join("00000000000000ab/melody.wav"), b"RIFF").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"no").unwrap();
        let app = router(dir.path().to_path_buf());
        let get = |uri: &str| {
            let app = app.clone();
            let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
            async move { app.oneshot(req).await.unwrap() }
        };
        let ok = get("/files/00000000000000ab/melody.wav").await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CONTENT_TYPE], "audio/wav");
        for bad in [
            "/files/00000000000000ab/secret.txt",
            "/files/..%2F..%2Fetc/melody.wav",
            "/files/00000000000000AB/melody.wav",
            "/files/00000000000000ac/melody.wav",
        ] {
            assert_eq!(get(bad).await.status(), StatusCode::NOT_FOUND, "{bad}");
        }
    }
}

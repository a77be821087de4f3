//! BM25 sparse vectors through qdrant-edge's tokenizer pipeline (English
//! stop words and stemming, like a Qdrant server's BM25). Documents carry
//! saturated term frequencies; the store multiplies in IDF at query time,
//! so adding a document never changes the others' vectors.

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::NotNan;

use super::store::Sparse;
use crate::Error;

/// Expected chunk length in tokens (the length normalisation's pivot).
const AVG_LEN: f64 = 60.0;

/// Embeds text into BM25 sparse vectors.
#[derive(Debug)]
pub struct Bm25(EdgeBm25);

impl Bm25 {
    /// The English model.
    pub fn new() -> Result<Self, Error> {
        let avg_len = NotNan::new(AVG_LEN).map_err(|e| Error::Knowledge(format!("bm25: {e}")))?;
        let config = EdgeBm25Config { avg_len, ..EdgeBm25Config::default() };
        EdgeBm25::new(config).map(Self).map_err(|e| Error::Knowledge(format!("bm25: {e}")))
    }

    /// A document's vector.
    pub fn document(&self, text: &str) -> Sparse {
        let v = self.0.embed_document(text);
        Sparse { indices: v.indices, values: v.values }
    }

    /// A query's vector.
    pub fn query(&self, text: &str) -> Sparse {
        let v = self.0.embed_query(text);
        Sparse { indices: v.indices, values: v.values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_drops_stop_words() {
        let bm = Bm25::new().unwrap();
        assert_eq!(bm.query("the refunds").indices, bm.query("refund").indices);
        assert!(bm.query("the of and").indices.is_empty());
        let doc = bm.document("refund refund ticket");
        assert_eq!(doc.indices.len(), 2);
    }
}

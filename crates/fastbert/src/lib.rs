//! CPU inference for BERT sentence encoders (all-MiniLM-L6-v2 and kin).
//!
//! candle runs a padded batch as one small matrix product per sentence and
//! per op; this crate stacks every real token of a batch into one matrix,
//! so each linear layer is one product over pre-packed weights (AVX2/FMA
//! tiles where the CPU has them) with its bias and residual fused, and
//! padding costs nothing. Query, key and value share one product. Results equal
//! candle's forward pass to float rounding (tested in Usher's
//! `tests/it/fine_tune.rs`). Training stays in candle; this crate only infers.
//!
//! Layout: `weights` converts checkpoint tensors into the kernels' layout,
//! `matmul` the packed products, `int8` their integer kernels (AVX-512
//! VNNI, AVX2, portable) for int8 activations, `kernels` the row operations (layer
//! norm, softmax, erf GELU),
//! `model` the forward pass and threading, `error` the error type.

mod error;
mod gru;
mod int8;
mod kernels;
mod matmul;
mod model;
mod weights;

pub use error::Error;
pub use gru::GruHead;
pub use matmul::{int8_kernel, Precision};
pub use model::{Hidden, Model};
pub use weights::{Config, Embeddings, Layer, Lookup};

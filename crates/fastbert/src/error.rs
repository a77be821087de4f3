//! The crate's one error type.

/// What can go wrong building a [`crate::Model`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A weight has the wrong number of values for its shape.
    #[error("weight {name}: expected {expected} values, got {got}")]
    Shape {
        /// Which weight.
        name: String,
        /// Values its shape needs.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// The configuration cannot describe a BERT model.
    #[error("invalid configuration: {0}")]
    Config(String),
}

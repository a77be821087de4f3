//! The `recommendations:` section of `config.yaml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// What staff control about recommendations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecsConfig {
    /// The catalogue file (`null`: no recommendations).
    pub catalogue: Option<PathBuf>,
    /// A recommender trained on the service's own histories
    /// (`usher train recs`); without one, suggestions come from the
    /// catalogue's content and the fan's history.
    pub model: Option<PathBuf>,
    /// Suggestions per answer (3 to 5).
    pub count: usize,
    /// Items shown first whenever they are eligible.
    pub pin: Vec<String>,
    /// Items moved up (a positive weight) or down (negative).
    pub boost: BTreeMap<String, f32>,
    /// Items never suggested.
    pub exclude: Vec<String>,
    /// Items rated above this age are never suggested.
    pub max_age_rating: Option<u8>,
}

impl Default for RecsConfig {
    fn default() -> Self {
        Self {
            catalogue: None,
            model: None,
            count: 4,
            pin: Vec::new(),
            boost: BTreeMap::new(),
            exclude: Vec::new(),
            max_age_rating: None,
        }
    }
}

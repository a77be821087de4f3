//! Hashed n-gram features: word unigrams and bigrams plus character 3- to
//! 5-grams of each word, hashed into a fixed-size vector (the "hashing
//! trick"), log-scaled and L2-normalised. No vocabulary to store, robust to
//! typos thanks to the character n-grams.

/// Feature dimension (a power of two).
pub const DIM: usize = 1 << 13;

/// Lower-cases and splits text into word tokens (letters, digits, apostrophes).
pub fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The feature vector of `text`, length [`DIM`].
pub fn featurize(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIM];
    let words = tokens(text);
    let mut add = |feature: &str, kind: u8, weight: f32| {
        let h = fnv1a(kind, feature.as_bytes());
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h as usize) & (DIM - 1)] += sign * weight;
    };
    for w in &words {
        add(w, b'w', 1.0);
        let padded: Vec<char> = format!("<{w}>").chars().collect();
        for n in 3..=5 {
            for gram in padded.windows(n) {
                add(&gram.iter().collect::<String>(), b'c', 0.5);
            }
        }
    }
    for pair in words.windows(2) {
        add(&format!("{} {}", pair[0], pair[1]), b'b', 1.0);
    }
    for x in v.iter_mut() {
        *x = x.signum() * x.abs().ln_1p();
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn fnv1a(kind: u8, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&kind).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn similar_texts_have_similar_features() {
        let a = featurize("I want a refund for my ticket");
        let b = featurize("i want a refnd for my tickets");
        let c = featurize("my stream keeps buffering");
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.5, "typos keep most features: {}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.2, "unrelated texts differ: {}", cosine(&a, &c));
        assert!(featurize("").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn tokens_split_on_punctuation() {
        assert_eq!(tokens("Where's my TICKET?!"), vec!["where's", "my", "ticket"]);
    }
}

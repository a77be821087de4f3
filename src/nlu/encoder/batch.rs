//! Batches of training sentences for fine-tuning: the frozen layers'
//! output, computed once, and the tokens a step leaves out
//! (`FineTune::token_dropout`, `FineTune::small_token_dropout`).

use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::Rng;

use super::bert::Bert;

/// The frozen layers' output for one batch of training sentences.
pub(crate) struct Batch {
    pub(super) hidden: Tensor,
    pub(super) mask: Tensor,
    pub(super) bias: Tensor,
    pub(super) labels: Tensor,
}

/// `mask` (sentences × tokens, 0/1) with each real token but the first
/// and the last of its sentence dropped with chance `p`, and its attention
/// bias.
pub(super) fn drop_tokens(mask: &Tensor, p: f32, rng: &mut StdRng) -> candle_core::Result<(Tensor, Tensor)> {
    let mut rows = mask.to_vec2::<u32>()?;
    for row in &mut rows {
        let len = row.iter().filter(|&&m| m == 1).count();
        for m in row.iter_mut().take(len.saturating_sub(1)).skip(1) {
            if rng.random::<f32>() < p {
                *m = 0;
            }
        }
    }
    let shape = mask.dims2()?;
    let dropped = Tensor::from_vec(rows.concat(), shape, mask.device())?;
    let bias = Bert::attention_bias(&dropped)?;
    Ok((dropped, bias))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn token_dropout_keeps_the_first_and_last_token_and_padding() {
        let mask =
            Tensor::from_vec(vec![1u32, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0], (3, 5), &Device::Cpu).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let (all, _) = super::drop_tokens(&mask, 1.0, &mut rng).unwrap();
        assert_eq!(all.to_vec2::<u32>().unwrap(), [[1, 0, 0, 0, 1], [1, 0, 0, 1, 0], [1, 1, 0, 0, 0]]);
        let (none, bias) = super::drop_tokens(&mask, 0.0, &mut rng).unwrap();
        assert_eq!(none.to_vec2::<u32>().unwrap(), mask.to_vec2::<u32>().unwrap());
        assert_eq!(bias.dims(), [3, 1, 1, 5]);
    }
}

//! Deterministic initialisation: candle's own initialisers draw from an
//! unseeded RNG, so models re-initialise their variables from a seeded one.

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rand::Rng;

use crate::Error;

/// The variables of `varmap` by name: a stable order for seeded
/// initialisation and for the optimiser.
pub fn sorted(varmap: &VarMap) -> Result<Vec<(String, Var)>, Error> {
    let data = varmap.data().lock().map_err(|_| Error::Model("variable map lock poisoned".into()))?;
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    drop(data);
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(vars)
}

/// Re-initialises every variable of `varmap` in name order: uniform in
/// ±1/√fan_in, fan_in being a matrix's second dimension or `vector_fan_in`
/// for vectors (±0.1 for names starting with `embedding`). Returns the
/// variables in that order, for the optimiser.
pub fn reinit(varmap: &VarMap, rng: &mut StdRng, vector_fan_in: usize) -> Result<Vec<Var>, Error> {
    let vars = sorted(varmap)?;
    for (name, var) in &vars {
        let shape = var.shape().clone();
        let fan_in = if shape.rank() == 2 { shape.dims()[1] } else { vector_fan_in }.max(1);
        let bound = if name.starts_with("embedding") { 0.1 } else { (1.0 / fan_in as f32).sqrt() };
        let values: Vec<f32> = (0..shape.elem_count()).map(|_| rng.random_range(-bound..bound)).collect();
        var.set(&Tensor::from_vec(values, shape, &Device::Cpu)?)?;
    }
    Ok(vars.into_iter().map(|(_, v)| v).collect())
}

//! `usher test recs`: the recommender and its peers on a leave-one-out
//! split, ranked against the whole catalogue, in one run; plus cold start
//! (items held out of training entirely, ranked among themselves).

use std::collections::HashSet;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use super::data::Interactions;
use super::eval::{popularity, rank, ItemKnn, Metrics};
use super::model::{SasRec, Settings};
use crate::Error;

/// Neighbourhood sizes item-kNN chooses from on the validation split.
pub const KNN_GRID: [usize; 6] = [10, 20, 50, 100, 200, 500];

/// One method's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The method.
    pub name: String,
    /// On the validation split (choices are made here).
    pub valid: Metrics,
    /// On the test split.
    pub test: Metrics,
    /// Its chosen settings.
    pub note: String,
}

/// What [`run`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Full-catalogue ranking of each user's held-out item.
    pub rows: Vec<Row>,
    /// Cold-start items ranked among the cold items (empty when skipped).
    pub cold: Vec<Row>,
    /// How many items were held out for cold start.
    pub cold_items: usize,
    /// Seconds the recommender trained (the main model).
    pub train_seconds: f64,
    /// The recommender's settings.
    pub settings: Settings,
    /// Items in the catalogue.
    pub items: usize,
    /// Users.
    pub users: usize,
}

/// A dense `rows × dim` matrix of content embeddings (row 0 zeros).
pub struct Content {
    /// Row-major values.
    pub values: Vec<f32>,
    /// Width.
    pub dim: usize,
}

impl Content {
    /// As a tensor for the model.
    pub fn tensor(&self) -> Result<Tensor, Error> {
        Ok(Tensor::from_vec(self.values.clone(), (self.values.len() / self.dim, self.dim), &Device::Cpu)?)
    }
}

/// Ranks of each user's target by `score(user)`, excluding `seen(user)`.
fn ranks(
    users: usize,
    targets: &[u32],
    seen: impl Fn(usize) -> Vec<u32>,
    rows: usize,
    scores: impl Fn(usize) -> Vec<f32>,
) -> Vec<usize> {
    (0..users)
        .map(|u| {
            let seen: HashSet<u32> = seen(u).into_iter().chain([0]).collect();
            rank(&scores(u), targets[u], 1..rows as u32, &seen)
        })
        .collect()
}

/// Runs everything; `log` gets progress lines.
pub fn run(
    data: &Interactions,
    content: &Content,
    settings: &Settings,
    cold: bool,
    log: &mut dyn FnMut(String),
) -> Result<Report, Error> {
    let rows = data.n_items() + 1;
    let users = data.train.len();
    let train: Vec<&[u32]> = data.train.iter().map(Vec::as_slice).collect();
    let full: Vec<Vec<u32>> = data.train.iter().zip(&data.valid).map(|(t, &v)| [t.as_slice(), &[v]].concat()).collect();
    let full_refs: Vec<&[u32]> = full.iter().map(Vec::as_slice).collect();
    let seen_valid = |u: usize| data.train[u].clone();
    let seen_test = |u: usize| full[u].clone();
    let mut out = Vec::new();

    let pop_train = popularity(&train, rows);
    let pop_full = popularity(&full_refs, rows);
    out.push(Row {
        name: "most popular".into(),
        valid: Metrics::from_ranks(&ranks(users, &data.valid, seen_valid, rows, |_| pop_train.clone())),
        test: Metrics::from_ranks(&ranks(users, &data.test, seen_test, rows, |_| pop_full.clone())),
        note: "interaction counts".into(),
    });
    log(format!("most popular: valid NDCG@10 {:.4}", out[0].valid.ndcg10));

    let mut best: Option<(usize, Metrics)> = None;
    let widest = ItemKnn::collaborative(&train, rows, KNN_GRID[KNN_GRID.len() - 1]);
    for k in KNN_GRID {
        let knn = widest.truncated(k);
        let m = Metrics::from_ranks(&ranks(users, &data.valid, seen_valid, rows, |u| knn.score(&data.train[u])));
        log(format!("item-kNN k={k}: valid NDCG@10 {:.4}", m.ndcg10));
        if best.is_none_or(|(_, b)| m.ndcg10 > b.ndcg10) {
            best = Some((k, m));
        }
    }
    let (k, valid) = best.unwrap_or_default();
    let knn = ItemKnn::collaborative(&full_refs, rows, k);
    out.push(Row {
        name: "item-kNN".into(),
        valid,
        test: Metrics::from_ranks(&ranks(users, &data.test, seen_test, rows, |u| knn.score(&full[u]))),
        note: format!("cosine, k={k} chosen on valid"),
    });

    let started = Instant::now();
    let log_cell = std::cell::RefCell::new(&mut *log);
    let validate = |m: &SasRec| -> Result<f64, Error> {
        let scores = m.score(&train)?;
        let ndcg = Metrics::from_ranks(&ranks(users, &data.valid, seen_valid, rows, |u| scores[u].clone())).ndcg10;
        (log_cell.borrow_mut())(format!("  valid NDCG@10 {ndcg:.4}"));
        Ok(ndcg)
    };
    let model = SasRec::train(
        &data.train,
        content.tensor()?,
        settings.clone(),
        |epoch, loss| {
            if epoch % 5 == 0 || epoch == settings.epochs {
                (log_cell.borrow_mut())(format!(
                    "recommender epoch {epoch}/{}: loss {loss:.4} ({:.0} s)",
                    settings.epochs,
                    started.elapsed().as_secs_f64()
                ));
            }
        },
        Some(&validate),
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    let valid_scores = model.score(&train)?;
    let test_scores = model.score(&full_refs)?;
    out.push(Row {
        name: "Usher SASRec + content".into(),
        valid: Metrics::from_ranks(&ranks(users, &data.valid, seen_valid, rows, |u| valid_scores[u].clone())),
        test: Metrics::from_ranks(&ranks(users, &data.test, seen_test, rows, |u| test_scores[u].clone())),
        note: format!(
            "dim {}, {} blocks, {} heads, window {}, best of {} epochs on valid, {} negatives, {train_seconds:.0} s",
            settings.dim, settings.blocks, settings.heads, settings.window, settings.epochs, settings.negatives
        ),
    });
    log(format!("recommender: valid NDCG@10 {:.4}, test {:.4}", out[2].valid.ndcg10, out[2].test.ndcg10));

    let (cold_rows, cold_items) = if cold { cold_start(data, content, settings, log)? } else { (Vec::new(), 0) };
    Ok(Report {
        rows: out,
        cold: cold_rows,
        cold_items,
        train_seconds,
        settings: settings.clone(),
        items: data.n_items(),
        users,
    })
}

/// A cold-start case: a user's warm history before they met a cold item.
struct Case {
    user: usize,
    history: Vec<u32>,
    target: u32,
    /// Cold items the user met before (excluded from the ranking).
    seen: Vec<u32>,
}

/// Holds 10 % of the items with interactions out of training, trains the
/// recommender without them, and ranks each cold item a user met among all
/// cold items, from the warm items the user had before. Odd users' cases
/// are the validation half (item-kNN's k is chosen there), even users' the test half.
fn cold_start(
    data: &Interactions,
    content: &Content,
    settings: &Settings,
    log: &mut dyn FnMut(String),
) -> Result<(Vec<Row>, usize), Error> {
    let rows = data.n_items() + 1;
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0xC01D);
    let mut items: Vec<u32> = data.train.iter().flatten().copied().collect::<HashSet<_>>().into_iter().collect();
    items.sort_unstable();
    items.shuffle(&mut rng);
    let cold: HashSet<u32> = items[..items.len() / 10].iter().copied().collect();
    let mut cold_list: Vec<u32> = cold.iter().copied().collect();
    cold_list.sort_unstable();
    let warm_train: Vec<Vec<u32>> =
        data.train.iter().map(|h| h.iter().copied().filter(|i| !cold.contains(i)).collect()).collect();
    let mut cases = Vec::new();
    for (user, h) in data.train.iter().enumerate() {
        let whole = h.iter().chain([&data.valid[user], &data.test[user]]);
        let (mut history, mut seen) = (Vec::new(), Vec::new());
        for &i in whole {
            if cold.contains(&i) {
                if !history.is_empty() {
                    cases.push(Case { user, history: history.clone(), target: i, seen: seen.clone() });
                }
                seen.push(i);
            } else {
                history.push(i);
            }
        }
    }
    log(format!("cold start: {} items held out, {} cases; training without them", cold.len(), cases.len()));
    let model = SasRec::train(&warm_train, content.tensor()?, settings.clone(), |_, _| {}, None)?;
    let histories: Vec<&[u32]> = cases.iter().map(|c| c.history.as_slice()).collect();
    let ours = model.score(&histories)?;
    let pool: Vec<u32> = (1..rows as u32).filter(|i| !cold.contains(i)).collect();
    let case_ranks = |half: usize, score: &dyn Fn(usize) -> Vec<f32>| -> Vec<usize> {
        cases
            .iter()
            .enumerate()
            .filter(|(_, c)| c.user % 2 == half)
            .map(|(n, c)| rank(&score(n), c.target, cold_list.iter().copied(), &c.seen.iter().copied().collect()))
            .collect()
    };
    let (valid_half, test_half) = (1, 0);
    let mut best: Option<(usize, Metrics)> = None;
    let knns: Vec<(usize, ItemKnn)> = KNN_GRID
        .iter()
        .copied()
        .zip(ItemKnn::content(&content.values, content.dim, &cold_list, &pool, &KNN_GRID)?)
        .collect();
    for (k, knn) in &knns {
        let k = *k;
        let m = Metrics::from_ranks(&case_ranks(valid_half, &|n| knn.score(&cases[n].history)));
        log(format!("content item-kNN k={k}: cold valid NDCG@10 {:.4}", m.ndcg10));
        if best.is_none_or(|(_, b)| m.ndcg10 > b.ndcg10) {
            best = Some((k, m));
        }
    }
    let (k, valid) = best.unwrap_or_default();
    let knn = &knns.iter().find(|(kk, _)| *kk == k).map(|(_, kn)| kn).ok_or_else(|| Error::Model("no k".into()))?;
    let peer = Row {
        name: "content item-kNN".into(),
        valid,
        test: Metrics::from_ranks(&case_ranks(test_half, &|n| knn.score(&cases[n].history))),
        note: format!("MiniLM cosine, k={k} chosen on valid"),
    };
    let usher = Row {
        name: "Usher SASRec + content".into(),
        valid: Metrics::from_ranks(&case_ranks(valid_half, &|n| ours[n].clone())),
        test: Metrics::from_ranks(&case_ranks(test_half, &|n| ours[n].clone())),
        note: "trained without the cold items".into(),
    };
    Ok((vec![peer, usher], cold.len()))
}

//! Interaction data for the benchmark: MovieLens ml-latest-small with its
//! leave-one-out split (`splits/{train,valid,test}.csv`) and the items'
//! titles, genres and tags (`movies.csv`, `tags.csv`).
//!
//! Items are numbered from 1 in `movies.csv` order; 0 is padding.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::Error;

/// One item of a catalogue: what its content embedding is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The catalogue's own id.
    pub id: String,
    /// The title shown to fans.
    pub title: String,
    /// Genres, in the order given.
    pub genres: Vec<String>,
    /// Free-text tags (most used first).
    pub tags: Vec<String>,
}

impl Item {
    /// The text the sentence encoder embeds: title, genres and tags.
    pub fn content_text(&self) -> String {
        let mut text = self.title.clone();
        if !self.genres.is_empty() {
            text.push_str(". Genres: ");
            text.push_str(&self.genres.join(", "));
        }
        if !self.tags.is_empty() {
            text.push_str(". Tags: ");
            text.push_str(&self.tags.join(", "));
        }
        text
    }
}

/// Fans' chronological histories over a catalogue, split leave-one-out.
#[derive(Debug, Clone, Default)]
pub struct Interactions {
    /// The items; `items[i - 1]` is item `i`.
    pub items: Vec<Item>,
    /// Each user's training history, oldest first (item numbers).
    pub train: Vec<Vec<u32>>,
    /// Each user's validation item (the second to last).
    pub valid: Vec<u32>,
    /// Each user's test item (the last).
    pub test: Vec<u32>,
}

impl Interactions {
    /// The number of items (the largest item number).
    pub fn n_items(&self) -> usize {
        self.items.len()
    }
}

/// A data error at `file` line `line`.
pub(crate) fn bad(file: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Data { file: file.to_path_buf(), line, message: message.into() }
}

fn reader(path: &Path) -> Result<csv::Reader<std::fs::File>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    Ok(csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(file))
}

/// The column numbers of `names` in `path`'s header, or an error naming the missing one.
fn columns<const N: usize>(
    path: &Path,
    r: &mut csv::Reader<std::fs::File>,
    names: [&str; N],
) -> Result<[usize; N], Error> {
    let headers = r.headers().map_err(|e| bad(path, 1, e.to_string()))?.clone();
    let mut out = [0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            bad(path, 1, format!("missing column `{name}` (header: {})", headers.iter().collect::<Vec<_>>().join(",")))
        })?;
    }
    Ok(out)
}

/// Reads `movies.csv` (`movieId,title,genres`) and `tags.csv`.
fn read_items(dir: &Path) -> Result<(Vec<Item>, HashMap<String, u32>), Error> {
    let path = dir.join("movies.csv");
    let mut r = reader(&path)?;
    let [id_col, title_col, genres_col] = columns(&path, &mut r, ["movieId", "title", "genres"])?;
    let mut items = Vec::new();
    let mut index = HashMap::new();
    for (i, record) in r.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(&path, line, e.to_string()))?;
        let id = record.get(id_col).unwrap_or("").trim().to_string();
        let title = record.get(title_col).unwrap_or("").trim().to_string();
        if id.is_empty() || title.is_empty() {
            return Err(bad(&path, line, "an item needs an id and a title"));
        }
        let genres = record
            .get(genres_col)
            .unwrap_or("")
            .split('|')
            .filter(|g| !g.is_empty() && *g != "(no genres listed)")
            .map(str::to_string)
            .collect();
        if index.insert(id.clone(), items.len() as u32 + 1).is_some() {
            return Err(bad(&path, line, format!("duplicate item id {id}")));
        }
        items.push(Item { id, title, genres, tags: Vec::new() });
    }
    let path = dir.join("tags.csv");
    if path.exists() {
        let mut r = reader(&path)?;
        let [movie_col, tag_col] = columns(&path, &mut r, ["movieId", "tag"])?;
        let mut counts: HashMap<u32, BTreeMap<String, usize>> = HashMap::new();
        for (i, record) in r.records().enumerate() {
            let record = record.map_err(|e| bad(&path, i + 2, e.to_string()))?;
            let (Some(movie), Some(tag)) = (record.get(movie_col), record.get(tag_col)) else { continue };
            if let Some(&item) = index.get(movie.trim()) {
                *counts.entry(item).or_default().entry(tag.trim().to_lowercase()).or_default() += 1;
            }
        }
        for (item, tags) in counts {
            let mut tags: Vec<(String, usize)> = tags.into_iter().collect();
            tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            items[item as usize - 1].tags = tags.into_iter().take(8).map(|(t, _)| t).collect();
        }
    }
    Ok((items, index))
}

/// Reads one split file into per-user item lists (in file order).
fn read_split(path: &Path, index: &HashMap<String, u32>) -> Result<BTreeMap<u64, Vec<u32>>, Error> {
    let mut r = reader(path)?;
    let [user_col, movie_col] = columns(path, &mut r, ["userId", "movieId"])?;
    let mut out: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (i, record) in r.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(path, line, e.to_string()))?;
        let user: u64 = record
            .get(user_col)
            .and_then(|u| u.trim().parse().ok())
            .ok_or_else(|| bad(path, line, "userId is not a number"))?;
        let movie = record.get(movie_col).unwrap_or("").trim();
        let item = *index.get(movie).ok_or_else(|| bad(path, line, format!("movieId {movie} is not in movies.csv")))?;
        out.entry(user).or_default().push(item);
    }
    Ok(out)
}

/// Loads MovieLens from `dir` (with `splits/` inside). Every user must have
/// exactly one validation and one test item.
pub fn movielens(dir: &Path) -> Result<Interactions, Error> {
    let (items, index) = read_items(dir)?;
    let splits = dir.join("splits");
    let read = |name: &str| {
        let path = splits.join(name);
        if !path.exists() {
            return Err(bad(&path, 0, "missing split"));
        }
        read_split(&path, &index).map(|s| (path, s))
    };
    let (_, train) = read("train.csv")?;
    let (valid_path, valid) = read("valid.csv")?;
    let (test_path, test) = read("test.csv")?;
    let one = |path: &Path, split: &BTreeMap<u64, Vec<u32>>, user: u64| match split.get(&user).map(Vec::as_slice) {
        Some([item]) => Ok(*item),
        Some(many) => Err(bad(path, 0, format!("user {user} has {} rows; a leave-one-out split has one", many.len()))),
        None => Err(bad(path, 0, format!("user {user} has no row"))),
    };
    let mut out = Interactions { items, ..Default::default() };
    for (&user, history) in &train {
        out.valid.push(one(&valid_path, &valid, user)?);
        out.test.push(one(&test_path, &test, user)?);
        out.train.push(history.clone());
    }
    Ok(out)
}

/// A service's own interactions (`fan,item,timestamp`, a header row;
/// timestamps compare as text, so ISO 8601 or zero-padded numbers) as each
/// fan's item numbers, oldest first; `number` maps a catalogue id to its
/// item number. An unknown item or a missing field names the file and line.
pub fn histories(path: &Path, number: impl Fn(&str) -> Option<u32>) -> Result<Vec<Vec<u32>>, Error> {
    let mut r = reader(path)?;
    let [fan_col, item_col, at_col] = columns(path, &mut r, ["fan", "item", "timestamp"])?;
    let mut by_fan: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    for (i, record) in r.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| bad(path, line, e.to_string()))?;
        let field = |c: usize, name: &str| {
            record
                .get(c)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(path, line, format!("missing {name}")))
        };
        let (fan, item, at) = (field(fan_col, "fan")?, field(item_col, "item")?, field(at_col, "timestamp")?);
        let n = number(item).ok_or_else(|| bad(path, line, format!("item {item} is not in the catalogue")))?;
        by_fan.entry(fan.to_string()).or_default().push((at.to_string(), n));
    }
    Ok(by_fan
        .into_values()
        .map(|mut h| {
            h.sort_by(|a, b| a.0.cmp(&b.0));
            h.into_iter().map(|(_, n)| n).collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn fixture(dir: &Path) {
        write(dir, "movies.csv", "movieId,title,genres\n1,Alien (1979),Horror|Sci-Fi\n2,\"Up, Up (2009)\",Animation\n3,Heat (1995),(no genres listed)\n");
        write(dir, "tags.csv", "userId,movieId,tag,timestamp\n1,1,space,1\n2,1,Space,2\n1,1,dark,3\n");
        write(dir, "splits/train.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,4.0,2\n2,3,3.0,1\n");
        write(dir, "splits/valid.csv", "userId,movieId,rating,timestamp\n1,3,4.0,3\n2,1,4.0,2\n");
        write(dir, "splits/test.csv", "userId,movieId,rating,timestamp\n1,2,4.0,4\n2,2,4.0,3\n");
    }

    #[test]
    fn reads_items_histories_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        let data = movielens(dir.path()).unwrap();
        assert_eq!(data.n_items(), 3);
        assert_eq!(data.train, vec![vec![1, 2], vec![3]]);
        assert_eq!((data.valid.clone(), data.test.clone()), (vec![3, 1], vec![2, 2]));
        assert_eq!(data.items[0].tags, ["space", "dark"]);
        assert_eq!(data.items[0].content_text(), "Alien (1979). Genres: Horror, Sci-Fi. Tags: space, dark");
        assert!(data.items[2].genres.is_empty());
    }

    #[test]
    fn a_services_interactions_become_ordered_histories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.csv");
        std::fs::write(&path, "fan,item,timestamp\nb,y,2026-01-02\na,x,2026-01-05\nb,x,2026-01-01\n").unwrap();
        let number = |id: &str| match id {
            "x" => Some(1),
            "y" => Some(2),
            _ => None,
        };
        assert_eq!(histories(&path, number).unwrap(), vec![vec![1], vec![1, 2]]);
        std::fs::write(&path, "fan,item,timestamp\na,x,1\na,zzz,2\n").unwrap();
        let err = histories(&path, number).unwrap_err().to_string();
        assert!(err.contains("i.csv line 3") && err.contains("zzz is not in the catalogue"), "{err}");
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path());
        write(dir.path(), "splits/valid.csv", "userId,movieId,rating,timestamp\n1,3,4.0,3\n2,99,4.0,2\n");
        let err = movielens(dir.path()).unwrap_err().to_string();
        assert!(err.contains("valid.csv") && err.contains("line 3") && err.contains("99"), "{err}");
        fixture(dir.path());
        std::fs::remove_file(dir.path().join("splits/test.csv")).unwrap();
        let err = movielens(dir.path()).unwrap_err().to_string();
        assert!(err.contains("test.csv") && err.contains("missing split"), "{err}");
    }
}

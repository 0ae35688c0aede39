//! "Did you mean `x`?": the nearest valid name to a misspelt one.
//!
//! Names are compared twice: first with case, `_` and `-` ignored (so `workingDir`,
//! `working-dir` and `WORKING_DIR` all find `working_dir`), then by edit distance counting a
//! swap of two neighbouring letters as one edit (`imgae` → `image`).

/// The candidate nearest to `name`, if one is near enough to be a likely typo.
pub(crate) fn nearest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let wanted = normalize(name);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        if normalize(c) == wanted {
            return Some(c);
        }
        let d = distance(&name.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if d <= threshold(name.chars().count().max(c.chars().count()))
            && best.is_none_or(|(bd, _)| d < bd)
        {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn threshold(len: usize) -> usize {
    match len {
        0..=2 => 0,
        3..=5 => 1,
        6..=9 => 2,
        _ => 3,
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut rows = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = v;
        }
    }
    rows[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let keys = ["image", "name", "working_dir", "pull_policy", "volumes"];
        assert_eq!(nearest("imgae", keys), Some("image"));
        assert_eq!(nearest("workingDir", keys), Some("working_dir"));
        assert_eq!(nearest("pull-policy", keys), Some("pull_policy"));
        assert_eq!(nearest("volume", keys), Some("volumes"));
        assert_eq!(nearest("zzz", keys), None);
        assert_eq!(nearest("network", keys), None);
    }

    #[test]
    fn distance_counts_swaps_once() {
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}

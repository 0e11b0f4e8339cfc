//! Generated names built from two built-in word lists (91-matchmaking §2.1, §4.1): a stranger is
//! `adjective-noun-NNNN`, a direct chat `adjective-noun`. Every word is 3–10 lower-case ASCII
//! letters, so the names match the documented patterns whatever is drawn.

use rand::seq::SliceRandom;
use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "amber",
    "ancient",
    "autumn",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crimson",
    "curious",
    "dapper",
    "daring",
    "dusky",
    "eager",
    "early",
    "electric",
    "fancy",
    "fierce",
    "gentle",
    "gilded",
    "glad",
    "golden",
    "hidden",
    "humble",
    "icy",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucky",
    "lunar",
    "mellow",
    "merry",
    "misty",
    "modest",
    "neon",
    "nimble",
    "noble",
    "odd",
    "patient",
    "placid",
    "polar",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "rosy",
    "rustic",
    "silent",
    "silver",
    "sleepy",
    "solar",
    "sunny",
    "swift",
    "tidy",
    "velvet",
    "vivid",
    "wandering",
    "warm",
    "wild",
    "windy",
    "wise",
    "witty",
    "young",
    "zesty",
];

const NOUNS: &[&str] = &[
    "badger", "beacon", "bison", "breeze", "canyon", "comet", "coral", "cricket", "dolphin", "dragon", "falcon",
    "fern", "finch", "fox", "galaxy", "gecko", "glacier", "harbor", "hawk", "heron", "island", "jaguar", "koala",
    "lantern", "lemur", "lynx", "maple", "meadow", "meteor", "moose", "nebula", "ocean", "orchid", "otter", "owl",
    "panda", "pebble", "pine", "planet", "puffin", "quasar", "raven", "reef", "river", "robin", "rocket", "sparrow",
    "spruce", "storm", "summit", "thistle", "tiger", "tundra", "valley", "voyager", "walrus", "wanderer", "willow",
    "wolf", "yak", "zephyr",
];

/// `adjective-noun`, e.g. `neon-wanderer`.
pub fn adjective_noun() -> String {
    let mut rng = rand::thread_rng();
    let adjective = ADJECTIVES.choose(&mut rng).copied().unwrap_or("quiet");
    let noun = NOUNS.choose(&mut rng).copied().unwrap_or("otter");
    format!("{adjective}-{noun}")
}

/// `adjective-noun-NNNN`, e.g. `quiet-otter-4821`: a stranger's username.
pub fn stranger_username() -> String {
    let digits: u16 = rand::thread_rng().gen_range(0..10_000);
    format!("{}-{digits:04}", adjective_noun())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_fits_the_documented_patterns() {
        for word in ADJECTIVES.iter().chain(NOUNS) {
            assert!((3..=10).contains(&word.len()), "{word}");
            assert!(word.bytes().all(|b| b.is_ascii_lowercase()), "{word}");
        }
        let name = stranger_username();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(
            parts[2].len() == 4 && parts[2].bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
    }
}

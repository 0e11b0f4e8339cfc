//! Generated names of direct chats (91-matchmaking §4.1): an adjective and a noun, e.g.
//! `neon-wanderer`, each of 3–10 lower-case letters.

use rand::rngs::OsRng;
use rand::seq::SliceRandom;

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "bright", "calm", "clever", "cosmic", "crisp", "dusky", "eager", "fancy", "gentle", "golden",
    "happy", "hidden", "humble", "jolly", "kind", "lively", "lucky", "mellow", "misty", "neon", "nimble", "noble",
    "quiet", "rapid", "rustic", "silent", "silver", "sleepy", "snowy", "solar", "sunny", "swift", "tidy", "velvet",
    "vivid", "warm", "wild", "witty",
];

const NOUNS: &[&str] = &[
    "badger", "beacon", "breeze", "canyon", "comet", "cricket", "dolphin", "ember", "falcon", "forest", "galaxy",
    "harbor", "heron", "island", "lantern", "meadow", "meteor", "nomad", "orchard", "otter", "panda", "pebble",
    "pilot", "planet", "raven", "ripple", "river", "rocket", "sailor", "spark", "sparrow", "summit", "thunder",
    "tiger", "voyager", "wanderer", "willow", "wizard", "zephyr",
];

/// `adjective-noun`, drawn uniformly from the built-in lists.
pub fn direct_chat_name() -> String {
    let adjective = ADJECTIVES.choose(&mut OsRng).copied().unwrap_or("quiet");
    let noun = NOUNS.choose(&mut OsRng).copied().unwrap_or("otter");
    format!("{adjective}-{noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_fits_the_name_pattern() {
        for word in ADJECTIVES.iter().chain(NOUNS) {
            assert!((3..=10).contains(&word.len()), "{word}");
            assert!(word.bytes().all(|b| b.is_ascii_lowercase()), "{word}");
        }
        let name = direct_chat_name();
        let (adjective, noun) = name.split_once('-').expect("two words");
        assert!(ADJECTIVES.contains(&adjective) && NOUNS.contains(&noun));
    }
}

//! `named_enum!`: an enum whose values the API, the database and the logs all know by one upper-case
//! name (`PLATFORM_BAN`, `USER_WARN`, …). The list of names is written once, beside the variants, and
//! serves the OpenAPI enum, the query filters and the row decoding.

#[macro_export]
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident, names $names:ident, what $what:literal {
        $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        /// Every name, in the order of the variants.
        $vis const $names: [&str; [$($text),+].len()] = [$($text),+];

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        /// A stored name outside the list is a corrupt row.
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(name: String) -> Result<$name, String> {
                $name::parse(&name).ok_or_else(|| format!(concat!($what, " {:?} is unknown"), name))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

//! The known sources of each category, and how a referring host is named.
//!
//! Modelled on the source-category lists of Google Analytics 4's default channel group
//! (the spreadsheet linked from <https://support.google.com/analytics/answer/9756891>,
//! "list of search sites", "list of social sites", ...): the names GA4 files under
//! `SOURCE_CATEGORY_SEARCH`, `_SOCIAL`, `_SHOPPING` and `_VIDEO`, trimmed to the sites a
//! shop's customers plausibly come from. Two deliberate departures: payment and shop
//! platforms GA4 calls "shopping" (Stripe, Shopify's checkout) are left out, because a
//! customer returning from a payment page is no marketplace sale; and an `email`
//! category (webmail hosts and email-marketing services) is added, which GA4 does not
//! have but the taxonomy's email channel needs when a webmail link carries no UTM tags.
//!
//! Each list holds registrable names (`google`, the name of `www.google.co.uk`) and a
//! few hosts whose category differs from their registrable name's (`mail.google.com` is
//! email, not search). They are merged once into one hash table; a lookup lowercases the
//! name on the stack, without allocating.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::SourceCategory;

/// Search engines.
const SEARCH: &[&str] = &[
    "360",
    "alice",
    "aol",
    "ask",
    "auone",
    "avg",
    "babylon",
    "baidu",
    "biglobe",
    "bing",
    "centrum",
    "daum",
    "dogpile",
    "duckduckgo",
    "ecosia",
    "eniro",
    "exalead",
    "excite",
    "globo",
    "google",
    "googleadservices",
    "incredimail",
    "kvasir",
    "lycos",
    "mojeek",
    "msn",
    "najdi",
    "naver",
    "onet",
    "petalsearch",
    "qwant",
    "rakuten",
    "rambler",
    "search-results",
    "search.brave.com",
    "seznam",
    "so",
    "sogou",
    "startpage",
    "startsiden",
    "terra",
    "tut",
    "ukr",
    "virgilio",
    "ya",
    "yahoo",
    "yandex",
];

/// Social networks, forums and link shorteners of social networks.
const SOCIAL: &[&str] = &[
    "answers.yahoo.com",
    "badoo",
    "bebo",
    "blog.naver.com",
    "blogger",
    "blogspot",
    "bsky",
    "buzzfeed",
    "cafe.naver.com",
    "deviantart",
    "digg",
    "discord",
    "disqus",
    "douban",
    "facebook",
    "fb",
    "flickr",
    "flipboard",
    "foursquare",
    "goodreads",
    "groups.google.com",
    "hootsuite",
    "houzz",
    "ig",
    "instagram",
    "kakao",
    "line",
    "linkedin",
    "livejournal",
    "mastodon",
    "medium",
    "meetup",
    "messenger",
    "mix",
    "myspace",
    "news.ycombinator.com",
    "nextdoor",
    "odnoklassniki",
    "ok",
    "pinterest",
    "plurk",
    "quora",
    "reddit",
    "renren",
    "sites.google.com",
    "skype",
    "slideshare",
    "snapchat",
    "stackexchange",
    "stackoverflow",
    "telegram",
    "threads",
    "tiktok",
    "tripadvisor",
    "tumblr",
    "twitter",
    "vk",
    "vkontakte",
    "wechat",
    "weibo",
    "whatsapp",
    "wordpress",
    "x",
    "xing",
    "yelp",
    "zalo",
];

/// Marketplaces and shopping search.
const SHOPPING: &[&str] = &[
    "alibaba",
    "aliexpress",
    "amazon",
    "ebay",
    "etsy",
    "google shopping",
    "igshopping",
    "mercadolibre",
    "shop.app",
    "shopping.google.com",
    "shopping.naver.com",
    "shopping.yahoo.co.jp",
    "shopping.yahoo.com",
    "shopzilla",
    "walmart",
];

/// Video platforms.
const VIDEO: &[&str] = &[
    "crackle",
    "curiositystream",
    "dailymotion",
    "disneyplus",
    "hulu",
    "iqiyi",
    "netflix",
    "rumble",
    "ted",
    "twitch",
    "utreon",
    "veoh",
    "vimeo",
    "wistia",
    "youku",
    "youtube",
];

/// Webmail hosts and email-marketing services (not in GA4's lists; see the module doc).
const EMAIL: &[&str] = &[
    "activecampaign",
    "brevo",
    "campaignmonitor",
    "constantcontact",
    "convertkit",
    "e.mail.ru",
    "gmail",
    "hs_email",
    "klaviyo",
    "mail.aol.com",
    "mail.google.com",
    "mail.proton.me",
    "mail.yahoo.com",
    "mail.yandex.ru",
    "mail.zoho.com",
    "mailchimp",
    "mailerlite",
    "mailjet",
    "omnisend",
    "outlook.live.com",
    "outlook.office.com",
    "outlook.office365.com",
    "sendgrid",
    "sendinblue",
];

/// Every list with its category.
const LISTS: [(&[&str], SourceCategory); 5] = [
    (SEARCH, SourceCategory::Search),
    (SOCIAL, SourceCategory::Social),
    (SHOPPING, SourceCategory::Shopping),
    (VIDEO, SourceCategory::Video),
    (EMAIL, SourceCategory::Email),
];

/// Hosts (link shorteners, mostly) whose source is not their registrable name.
const ALIASES: &[(&str, &str)] = &[
    ("fb.me", "facebook"),
    ("lnkd.in", "linkedin"),
    ("pin.it", "pinterest"),
    ("redd.it", "reddit"),
    ("t.co", "twitter"),
    ("t.me", "telegram"),
    ("youtu.be", "youtube"),
];

/// Second-level labels under a country code that are part of the public suffix
/// (`google.co.uk`, `amazon.com.au`, `yahoo.co.jp`, `gob.mx`). A heuristic in place of
/// the whole public-suffix list: it only has to find the names of the lists above.
const SECOND_LEVEL: &[&str] = &[
    "ac", "co", "com", "edu", "go", "gob", "gov", "mil", "ne", "net", "or", "org",
];

/// Every listed name with its category, for one hash lookup per name.
static TABLE: LazyLock<HashMap<&'static [u8], SourceCategory>> = LazyLock::new(|| {
    LISTS
        .iter()
        .flat_map(|(list, category)| list.iter().map(|entry| (entry.as_bytes(), *category)))
        .collect()
});

/// No listed name is longer: a longer one is not looked up at all.
const LONGEST_NAME: usize = 32;

/// The category of a source name or host listed above, compared ignoring ASCII case.
pub(super) fn category_of(name: &str) -> Option<SourceCategory> {
    // Lowercased on the stack: the lookup runs for every event and allocates nothing.
    let mut buffer = [0u8; LONGEST_NAME];
    let key = buffer.get_mut(..name.len())?;
    for (slot, byte) in key.iter_mut().zip(name.bytes()) {
        *slot = byte.to_ascii_lowercase();
    }
    TABLE.get(&*key).copied()
}

/// The category of a `utm_source` value: the value itself, or, when it is a host
/// (`facebook.com`), that host's.
pub(super) fn category_of_source(source: &str) -> Option<SourceCategory> {
    category_of(source).or_else(|| {
        if source.contains('.') {
            of_host(source).1
        } else {
            None
        }
    })
}

/// The source a referring host stands for (`www.google.co.uk` → `google`, `t.co` →
/// `twitter`) and its category: the first listed of the host and its parent domains,
/// else the category of the source's name.
pub(super) fn of_host(host: &str) -> (&str, Option<SourceCategory>) {
    let name = alias_of(host).unwrap_or_else(|| registrable_name(host));
    let category = parent_domains(host)
        .find_map(category_of)
        .or_else(|| category_of(name));
    (name, category)
}

/// The host and each parent domain that still has a dot: `a.b.c.d`, `b.c.d`, `c.d`.
fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(host), |domain| {
        domain.split_once('.').map(|(_, parent)| parent)
    })
    .filter(|domain| domain.contains('.'))
}

/// The source named by an alias of `host` or of one of its parent domains.
fn alias_of(host: &str) -> Option<&'static str> {
    parent_domains(host).find_map(|domain| {
        ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(domain))
            .map(|(_, name)| *name)
    })
}

/// The label just left of the public suffix: `google` of `www.google.com` and of
/// `news.google.co.uk`. An IP address or a name without dots is its own name.
pub(super) fn registrable_name(host: &str) -> &str {
    let is_ip = host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if is_ip {
        return host;
    }
    let mut labels = host.rsplit('.');
    let (top, second, third) = (labels.next(), labels.next(), labels.next());
    let name = match (top, second, third) {
        (Some(top), Some(second), Some(third))
            if top.len() == 2
                && SECOND_LEVEL
                    .iter()
                    .any(|label| label.eq_ignore_ascii_case(second)) =>
        {
            third
        }
        (_, Some(second), _) => second,
        _ => host,
    };
    if name.is_empty() { host } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_lowercase_and_name_each_source_once() {
        let mut seen = std::collections::HashSet::new();
        for (list, category) in LISTS {
            for pair in list.windows(2) {
                assert!(
                    pair[0] < pair[1],
                    "{category:?}: {} before {}",
                    pair[0],
                    pair[1]
                );
            }
            for entry in list {
                assert_eq!(
                    *entry,
                    entry.to_ascii_lowercase(),
                    "{entry} is not lowercase"
                );
                assert!(seen.insert(*entry), "{entry} is in two lists");
            }
        }
        for (alias, name) in ALIASES {
            assert!(
                category_of(name).is_some(),
                "alias {alias} names unlisted {name}"
            );
        }
    }

    #[test]
    fn hosts_are_named_and_categorised() {
        use SourceCategory::*;
        let cases: &[(&str, &str, Option<SourceCategory>)] = &[
            ("www.google.com", "google", Some(Search)),
            ("www.google.co.uk", "google", Some(Search)),
            ("news.google.co.uk", "google", Some(Search)),
            ("WWW.Google.COM", "Google", Some(Search)),
            ("search.yahoo.co.jp", "yahoo", Some(Search)),
            ("answers.yahoo.com", "yahoo", Some(Social)),
            ("duckduckgo.com", "duckduckgo", Some(Search)),
            ("cn.bing.com", "bing", Some(Search)),
            ("search.brave.com", "brave", Some(Search)),
            ("l.facebook.com", "facebook", Some(Social)),
            ("lm.facebook.com", "facebook", Some(Social)),
            ("t.co", "twitter", Some(Social)),
            ("x.com", "x", Some(Social)),
            ("lnkd.in", "linkedin", Some(Social)),
            ("www.linkedin.com", "linkedin", Some(Social)),
            ("news.ycombinator.com", "ycombinator", Some(Social)),
            ("m.youtube.com", "youtube", Some(Video)),
            ("youtu.be", "youtube", Some(Video)),
            ("www.amazon.co.uk", "amazon", Some(Shopping)),
            ("www.ebay.com.au", "ebay", Some(Shopping)),
            ("shop.app", "shop", Some(Shopping)),
            ("msearch.shopping.naver.com", "naver", Some(Shopping)),
            ("mail.google.com", "google", Some(Email)),
            ("us-mg5.mail.yahoo.com", "yahoo", Some(Email)),
            ("outlook.live.com", "live", Some(Email)),
            ("blog.example.com", "example", None),
            ("example.org.uk", "example", None),
            ("checkout.stripe.com", "stripe", None),
            ("localhost", "localhost", None),
            ("192.168.0.1", "192.168.0.1", None),
            ("a..b", "a..b", None),
        ];
        for (host, name, category) in cases {
            assert_eq!(of_host(host), (*name, *category), "{host}");
        }
    }

    #[test]
    fn sources_are_categorised_as_names_or_hosts() {
        use SourceCategory::*;
        let cases: &[(&str, Option<SourceCategory>)] = &[
            ("google", Some(Search)),
            ("Google", Some(Search)),
            ("facebook.com", Some(Social)),
            ("m.facebook.com", Some(Social)),
            ("Google Shopping", Some(Shopping)),
            ("klaviyo", Some(Email)),
            ("youtube", Some(Video)),
            ("newsletter", None),
            ("googl", None),
            ("", None),
            ("ünïcode", None),
            ("a-source-name-longer-than-any-listed-name", None),
        ];
        for (source, category) in cases {
            assert_eq!(category_of_source(source), *category, "{source}");
        }
    }
}

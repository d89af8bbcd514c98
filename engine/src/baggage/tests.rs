use super::{Baggage, MAX_BYTES, MAX_ENTRIES};

#[test]
fn keeps_valid_members_with_their_properties() {
    let baggage = Baggage::parse(" a=1 ;p ; q=2 ,b=%20x").unwrap();
    assert_eq!(baggage.as_str(), "a=1 ;p ; q=2,b=%20x");
    assert_eq!(
        baggage.entries(),
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), " x".to_owned())
        ]
    );
}

#[test]
fn drops_malformed_members_and_keeps_the_rest() {
    let baggage = Baggage::parse("=1,novalue,k=v\"q,ok=1,,k2=a\\b,x=é").unwrap();
    assert_eq!(baggage.as_str(), "ok=1");
}

#[test]
fn nothing_valid_is_none() {
    assert_eq!(Baggage::parse(""), None);
    assert_eq!(Baggage::parse("no-equals, ,"), None);
    assert_eq!(Baggage::from_header(&[0xff, b'=', b'1']), None);
}

#[test]
fn members_past_the_entry_limit_are_dropped() {
    let header: Vec<String> = (0..MAX_ENTRIES + 20).map(|i| format!("k{i}=v")).collect();
    let baggage = Baggage::parse(&header.join(",")).unwrap();
    assert_eq!(baggage.entries().len(), MAX_ENTRIES);
    assert_eq!(
        baggage.entries()[MAX_ENTRIES - 1].0,
        format!("k{}", MAX_ENTRIES - 1)
    );
}

#[test]
fn members_past_the_byte_limit_are_dropped() {
    let big = "v".repeat(3000);
    let header = format!("a={big},b={big},c={big},d=small");
    let baggage = Baggage::parse(&header).unwrap();
    assert!(baggage.as_str().len() <= MAX_BYTES);
    let keys: Vec<String> = baggage.entries().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b", "d"]);
    assert_eq!(
        Baggage::parse(&format!("huge={}", "v".repeat(MAX_BYTES))),
        None
    );
}

#[test]
fn entries_round_trip_through_the_header() {
    let entries = [("user", "Jörg; 100%"), ("empty", ""), ("tenant", "a=b,c")];
    let baggage = Baggage::from_entries(entries).unwrap();
    let reparsed = Baggage::parse(baggage.as_str()).unwrap();
    assert_eq!(reparsed, baggage);
    let expected: Vec<(String, String)> = entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(reparsed.entries(), expected);
}

#[test]
fn entries_with_invalid_keys_are_dropped() {
    assert_eq!(Baggage::from_entries([("a b", "1"), ("", "2")]), None);
}

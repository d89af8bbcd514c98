//! The options that reach librdkafka directly: `group_instance_id` and `kafka_config`.

use super::{option_error, resolve};
use crate::config::OptionValue;

#[test]
fn group_instance_id_takes_what_kafka_takes() {
    let longest = "a".repeat(249);
    for text in ["worker-0", "billing.pod_7", longest.as_str()] {
        let config = resolve(&[("group_instance_id", text)], &[]).unwrap();
        assert_eq!(config.group_instance_id.as_deref(), Some(text));
    }
    let from_env = resolve(&[], &[("PROSODY_GROUP_INSTANCE_ID", " pod-3 ")]).unwrap();
    assert_eq!(from_env.group_instance_id.as_deref(), Some("pod-3"));
    assert_eq!(
        resolve(&[("group_instance_id", " ")], &[])
            .unwrap()
            .group_instance_id,
        None
    );

    let too_long = "a".repeat(250);
    for text in ["pod 1", "pod/1", "ünïcode", too_long.as_str()] {
        let error = option_error("group_instance_id", text);
        assert!(
            error.to_string().starts_with("invalid `group_instance_id`: ")
                && error.to_string().ends_with("is not a group instance id: at most 249 letters, digits, '.', '_' or '-', unique in the group"),
            "{error}"
        );
    }
}

#[test]
fn kafka_config_takes_a_json_object_or_one_variable_per_property() {
    let explicit = resolve(
        &[(
            "kafka_config",
            r#"{"security.protocol":"SASL_SSL","socket.keepalive.enable":true}"#,
        )],
        &[],
    )
    .unwrap();
    assert_eq!(
        explicit.kafka_config.get("security.protocol"),
        Some("SASL_SSL")
    );
    assert_eq!(
        explicit.kafka_config.get("socket.keepalive.enable"),
        Some("true")
    );

    let vars = [
        (
            "PROSODY_KAFKA_CONFIG_SASL_MECHANISM".to_owned(),
            "PLAIN".to_owned(),
        ),
        (
            "PROSODY_KAFKA_CONFIG_SSL_CA_PEM".to_owned(),
            "-----BEGIN, with a comma\n".to_owned(),
        ),
        ("PROSODY_GROUP_ID".to_owned(), "ignored".to_owned()),
    ];
    let text = crate::config::properties::from_env_vars(vars.into_iter()).unwrap();
    let from_env = resolve(&[], &[("PROSODY_KAFKA_CONFIG_*", &text)]).unwrap();
    assert_eq!(from_env.kafka_config.get("sasl.mechanism"), Some("PLAIN"));
    assert_eq!(
        from_env.kafka_config.get("ssl.ca.pem"),
        Some("-----BEGIN, with a comma\n")
    );
    assert_eq!(from_env.kafka_config.iter().count(), 2);

    let both = resolve(
        &[("kafka_config", r#"{"client.id":"mine"}"#)],
        &[("PROSODY_KAFKA_CONFIG_*", &text)],
    )
    .unwrap();
    assert_eq!(
        both.kafka_config.iter().count(),
        1,
        "an explicit value replaces the variables"
    );
}

#[test]
fn kafka_config_refuses_what_prosody_owns_naming_the_option_to_use() {
    for (property, option) in [
        ("group.id", "group_id"),
        ("bootstrap.servers", "bootstrap_servers"),
        ("group.instance.id", "group_instance_id"),
        ("message.timeout.ms", "send_timeout"),
    ] {
        let text = format!(r#"{{"{property}":"x"}}"#);
        let error = option_error("kafka_config", &text);
        assert_eq!(
            error.to_string(),
            format!("invalid `kafka_config` property `{property}`: Prosody sets it from the `{option}` option")
        );
        assert!(crate::Config::parse_option("kafka_config", &text).is_err());
    }
    for property in [
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
    ] {
        let error = option_error("kafka_config", &format!(r#"{{"{property}":"false"}}"#));
        assert!(
            error.to_string().starts_with(&format!(
                "invalid `kafka_config` property `{property}`: Prosody"
            )),
            "{error}"
        );
    }
}

#[test]
fn kafka_config_never_shows_a_secret_value() {
    let text = r#"{"sasl.username":"app","sasl.password":"hunter2","ssl.key.password":"hunter3"}"#;
    let config = resolve(&[("kafka_config", text)], &[]).unwrap();
    let shown = format!(
        "{config:?} {:?} {:?}",
        config.typed_values(),
        config.effective_values()
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("hunter3"),
        "{shown}"
    );
    assert!(shown.contains("app"), "{shown}");
    let value = config
        .typed_values()
        .into_iter()
        .find(|(name, _)| *name == "kafka_config");
    assert_eq!(
        value.map(|(_, value)| value),
        Some(OptionValue::Properties(vec![
            ("sasl.password".into(), "<redacted>".into()),
            ("sasl.username".into(), "app".into()),
            ("ssl.key.password".into(), "<redacted>".into()),
        ]))
    );

    let malformed = option_error("kafka_config", r#"{"sasl.password": "hunter2""#);
    assert!(!malformed.to_string().contains("hunter2"), "{malformed}");
    assert!(
        malformed.to_string().contains("is not a JSON object"),
        "{malformed}"
    );
}

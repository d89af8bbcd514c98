//! The options that reach librdkafka directly: `group_instance_id`.

use super::{option_error, resolve};

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

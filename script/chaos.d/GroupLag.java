// Prints a consumer group's committed offset and the log end offset of each partition of a
// topic, one "partition committed end" line each (committed is -1 when nothing was committed).
// The chaos verifier runs it with Kafka's own jars (script/services fetched them), so the final
// lag is read by a client that is not the one under test.
//
//   java -cp "$PROSODY_SERVICES_HOME/kafka/lib/*" GroupLag.java BOOTSTRAP GROUP TOPIC
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

public final class GroupLag {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: GroupLag BOOTSTRAP GROUP TOPIC");
      System.exit(64);
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(props)) {
      Map<TopicPartition, OffsetSpec> ends = new TreeMap<>(
          (a, b) -> Integer.compare(a.partition(), b.partition()));
      for (TopicPartitionInfo info :
          admin.describeTopics(java.util.List.of(args[2])).allTopicNames().get(30, TimeUnit.SECONDS)
              .get(args[2]).partitions()) {
        ends.put(new TopicPartition(args[2], info.partition()), OffsetSpec.latest());
      }
      Map<TopicPartition, ListOffsetsResultInfo> end =
          admin.listOffsets(ends).all().get(30, TimeUnit.SECONDS);
      Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(args[1])
          .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
      for (TopicPartition tp : ends.keySet()) {
        OffsetAndMetadata c = committed.get(tp);
        System.out.println(tp.partition() + " " + (c == null ? -1 : c.offset()) + " "
            + end.get(tp).offset());
      }
    }
  }
}

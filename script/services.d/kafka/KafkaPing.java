// Health check used by script/services: a real produce + consume round trip.
// Compiled against the broker's own lib/ (kafka-clients is in it), so it needs
// no extra download. Usage: KafkaPing <bootstrap> <timeout-seconds>
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaPing {
    static final String TOPIC = "prosody-healthcheck";

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[1])).toNanos();
        // The broker may still be starting: retry the whole round trip until the deadline.
        while (true) {
            try {
                roundTrip(bootstrap, deadline);
                return;
            } catch (Exception e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                if (System.nanoTime() > deadline) {
                    System.err.println("kafka health check failed: " + cause);
                    System.exit(1);
                }
                Thread.sleep(1000);
            }
        }
    }

    static long remainingMs(long deadline) {
        return Math.max(1000, (deadline - System.nanoTime()) / 1_000_000);
    }

    static void roundTrip(String bootstrap, long deadline) throws Exception {
        Map<String, Object> common = Map.of(
                "bootstrap.servers", bootstrap,
                "request.timeout.ms", 5000,
                "default.api.timeout.ms", 10000);
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) throw e;
        }

        String value = UUID.randomUUID().toString();
        Properties p = new Properties();
        p.putAll(common);
        p.put("acks", "all");
        p.put("delivery.timeout.ms", 15000);
        p.put("max.block.ms", 10000);
        RecordMetadata sent;
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            sent = producer.send(new ProducerRecord<>(TOPIC, value)).get();
        }

        // assign+seek reads exactly what we wrote without a rebalance; the commit
        // still goes through the group coordinator, so __consumer_offsets gets
        // created here rather than in the first test that uses a group.
        Properties c = new Properties();
        c.putAll(common);
        c.put("group.id", "prosody-healthcheck");
        c.put("enable.auto.commit", "false");
        TopicPartition tp = new TopicPartition(sent.topic(), sent.partition());
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seek(tp, sent.offset());
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() == sent.offset()) {
                        if (!value.equals(r.value())) {
                            throw new IllegalStateException("read back " + r.value() + ", wrote " + value);
                        }
                        consumer.commitSync(Map.of(tp, new OffsetAndMetadata(r.offset() + 1)),
                                Duration.ofMillis(remainingMs(deadline)));
                        System.out.println("round trip ok: " + tp + "@" + r.offset());
                        return;
                    }
                }
            }
            throw new IllegalStateException("record at offset " + sent.offset() + " not consumed in time");
        }
    }
}

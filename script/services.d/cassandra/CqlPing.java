// Health check used by script/services: a real CQL query over the native
// protocol, with the shaded DataStax 3.x driver that cassandra-all already
// ships in lib/. Usage: CqlPing <host> <port> <timeout-seconds> [<user> <password>]
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.QueryOptions;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import com.datastax.driver.core.SocketOptions;
import java.time.Duration;

public class CqlPing {
    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        long deadline = System.nanoTime() + Duration.ofSeconds(Long.parseLong(args[2])).toNanos();
        while (true) {
            Cluster.Builder builder = Cluster.builder().addContactPoint(host).withPort(port);
            if (args.length >= 5) {
                builder = builder.withCredentials(args[3], args[4]);
            }
            // withoutJMXReporting: driver 3.x's JMX reporter needs metrics 3, lib/ has 4.
            try (Cluster cluster = builder
                    .withoutJMXReporting()
                    // Schema/token metadata is not needed for one query and slows connect.
                    .withQueryOptions(new QueryOptions().setMetadataEnabled(false))
                    .withSocketOptions(new SocketOptions().setConnectTimeoutMillis(3000).setReadTimeoutMillis(5000))
                    .build();
                 Session session = cluster.connect()) {
                Row row = session.execute("SELECT release_version FROM system.local").one();
                System.out.println(row.getString("release_version"));
                // Skip the driver's graceful shutdown (seconds of event-loop quiet period).
                System.exit(0);
            } catch (Exception e) {
                if (System.nanoTime() > deadline) {
                    System.err.println("cassandra health check failed: " + e);
                    System.exit(1);
                }
                Thread.sleep(1000);
            }
        }
    }
}

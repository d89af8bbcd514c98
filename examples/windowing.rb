# frozen_string_literal: true

# Windowing with keyed state, on the embedded mock broker: no Kafka needed.
#
# Sensors send readings. The first reading of a sensor opens a window for it and is reported at
# once; the readings that follow inside the window collect in the sensor's message deque, and a
# timer at the window's end reports them together and closes the window. The open window and the
# collected readings are keyed state: they survive a restart or a rebalance, and a handler that
# fails leaves them as they were. The deque keeps only where each reading lives in Kafka (topic,
# partition, offset), and the timer reads the messages back, so the topic's retention must
# outlast a window.
#
# Run it with: ruby -Ilib examples/windowing.rb   (after `rake compile`)
# With PROSODY_BOOTSTRAP_SERVERS and PROSODY_CASSANDRA_NODES set, it runs on that Kafka and
# Cassandra instead, on a topic of its own.

require "prosody"
require "securerandom"
require "timeout"

$stdout.sync = true # lines from handler threads stay whole

WINDOW = 2 # seconds
# When the key's window opened (Unix seconds); absent while no window is open.
OPENED = Prosody.value("window_opened")
# The readings received since the first one, oldest first, kept as references to their messages.
COLLECTED = Prosody.message_deque("window_collected", capacity: 1_000)

# Notifies on the first reading of a window, collects the rest, and flushes them on the timer.
class WindowHandler < Prosody::EventHandler
  def initialize(reported)
    super()
    @reported = reported
  end

  def on_message(context, message)
    opened = context.state(OPENED)
    return context.state(COLLECTED).push(message) unless opened.get.nil?

    opened.set(Time.now.to_f)
    context.schedule(Time.now + WINDOW)
    notify(message.key, message.payload["value"])
  end

  def on_timer(context, timer)
    collected = context.state(COLLECTED)
    # Each element is a Prosody::Message again, as the handler first received it.
    values = collected.each.map { |message| message.payload["value"] }
    collected.clear
    context.state(OPENED).clear
    noun = values.size == 1 ? "message" : "messages"
    puts "  #{timer.key}: window closed, #{values.size} later #{noun}: #{values.join(", ")}"
    @reported << [:flush, timer.key, values]
  end

  private

  def notify(sensor, value)
    puts "  #{sensor}: first reading #{value}, window open for #{WINDOW} s"
    @reported << [:first, sensor, [value]]
  end
end

def client_options
  servers = ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", nil)
  return { mock: true, subscribed_topics: "readings" } unless servers

  topic = "windowing-#{SecureRandom.hex(4)}"
  Prosody::Admin.new(bootstrap_servers: servers).create_topic(topic)
  { bootstrap_servers: servers, subscribed_topics: topic,
    cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042") }
end

Prosody.logger.level = Logger::WARN
options = client_options
topic = options[:subscribed_topics]
client = Prosody::Client.new(
  group_id: "windowing-#{SecureRandom.hex(4)}", source_system: "windowing-example",
  probe_port: false, state_collections: [OPENED, COLLECTED], **options
)
readings = [["boiler", 61.5], ["fridge", 4.1], ["boiler", 62.0], ["boiler", 62.4], ["fridge", 4.3]]
readings.each { |sensor, value| client.send_message(topic, sensor, { "value" => value }) }
puts "sent #{readings.size} readings"

reported = Queue.new
client.subscribe(WindowHandler.new(reported))
seen = []
Timeout.timeout(60) do
  seen << reported.pop until seen.sum { |(_, _, values)| values.size } == readings.size
end
client.unsubscribe
servers = options[:bootstrap_servers]
Prosody::Admin.new(bootstrap_servers: servers).delete_topic(topic) if servers
windows = seen.count { |(kind, _, _)| kind == :flush }
puts "reported #{readings.size} readings: #{seen.size - windows} at once, " \
     "the rest in #{windows} windows"

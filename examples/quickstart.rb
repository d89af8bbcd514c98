# frozen_string_literal: true

# Quick start on the embedded mock broker: no Kafka needed.
#
# It subscribes a handler to an "orders" topic, sends a few orders for two customers, and
# prints them as the handler sees them: each customer's orders arrive in the order sent, while
# different customers are handled concurrently. A handler can send messages of its own, and
# schedule a timer for its key: here, a follow-up for each customer a second after their
# latest order (`clear_and_schedule` keeps one per customer).
#
# Run it with: ruby -Ilib examples/quickstart.rb   (after `rake compile`)

require "prosody"
require "timeout"

# Handles orders and emits a receipt for each.
class OrderHandler < Prosody::EventHandler
  def initialize(client, seen, followed_up)
    super()
    @client = client
    @seen = seen
    @followed_up = followed_up
  end

  def on_message(context, message)
    order = message.payload
    puts "  handled #{message.key.ljust(6)} order ##{order["number"]} (#{order["item"]}, " \
         "partition #{message.partition}, offset #{message.offset})"
    @client.send_message("receipts", message.key,
                         { "order" => order["number"], "status" => "paid" })
    context.clear_and_schedule(Time.now + 1)
    @seen << order["number"]
  end

  def on_timer(_context, timer)
    puts "  follow-up for #{timer.key} (due #{timer.time.strftime("%H:%M:%S")})"
    @followed_up << timer.key
  end
end

Prosody.logger.level = Logger::INFO
client = Prosody::Client.new(
  mock: true,
  group_id: "quickstart",
  subscribed_topics: "orders",
  source_system: "quickstart-producer",
  probe_port: false
)
seen = Queue.new
followed_up = Queue.new
client.subscribe(OrderHandler.new(client, seen, followed_up))
puts "consumer state: #{client.consumer_state}"

orders = [
  %w[alice tea], %w[bob coffee], %w[alice scone], %w[bob bagel], %w[alice jam]
]
orders.each_with_index do |(customer, item), number|
  client.send_message("orders", customer, { "number" => number, "item" => item })
end
puts "sent #{orders.size} orders"

handled = Timeout.timeout(30) { Array.new(orders.size) { seen.pop } }
customers = Timeout.timeout(30) { Array.new(2) { followed_up.pop } }
client.unsubscribe
puts "handled #{handled.size} orders, followed up #{customers.sort.join(" and ")}; " \
     "consumer state: #{client.consumer_state}"

# frozen_string_literal: true

require_relative "mock_helpers"

# For the keyed state specs: a mock client subscribed with collections, whose handler's results
# the example reads from a queue. An including group defines `topic`; the client is `@client`.
module StateHelpers
  include MockHelpers

  # Subscribes a handler that runs `block` for each message and pushes what it returns (or the
  # exception it raised) to a queue; returns the queue. A payload with `reraise` re-raises, so
  # the attempt fails and is retried.
  def handle(collections, **options, &block)
    results = Queue.new
    options = { group_id: unique("state-group"), retry_base: 0.005,
                max_retry_delay: 0.02 }.merge(options)
    @client = mock_client(subscribed_topics: topic, state_collections: collections, **options)
    @client.subscribe(MockHelpers::RecordingHandler.new do |context, message|
      results << block.call(context, message)
    rescue StandardError => e
      results << e
      raise if message.payload["reraise"]
    end)
    results
  end

  def send_all(*payloads, key: "k")
    payloads.each { |payload| @client.send_message(topic, key, payload) }
  end
end

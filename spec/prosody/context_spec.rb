# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# The context a handler receives shows only the documented API: the bridge protocol (outcomes,
# timer operations, cancellation routing) is private to it.
RSpec.describe Prosody::Context do
  include MockHelpers

  documented = %i[attempt clear_and_schedule clear_scheduled demand inspect key on_cancel
                  schedule scheduled should_cancel? state unschedule]

  it "offers only the documented methods" do
    expect(described_class.public_instance_methods(false).sort).to eq(documented)
  end

  it "reaches a handler with only the documented methods beyond Object's" do
    topic = unique("context-spec")
    client = mock_client(group_id: unique("context-group"), subscribed_topics: topic)
    seen = Queue.new
    client.subscribe(MockHelpers::RecordingHandler.new do |context, _message|
      seen << [context.class, context.public_methods - Object.public_instance_methods,
               context.inspect]
    end)
    client.send_message(topic, "customer-1", { "n" => 1 })

    klass, methods, inspected = pop_all(seen, 1).first
    expect(klass).to be(described_class)
    expect(methods.sort).to eq(documented - [:inspect])
    expect(inspected).to eq('#<Prosody::Context key="customer-1" attempt=1>')
  ensure
    client&.close
  end
end

# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe Prosody::EventHandler do
  it "raises NotImplementedError naming the class when on_message is not defined" do
    handler_class = Class.new(described_class)
    stub_const("UnfinishedHandler", handler_class)

    expect { handler_class.new.on_message(nil, nil) }
      .to raise_error(NotImplementedError,
                      "UnfinishedHandler must implement #on_message(context, message)")
  end

  it "raises NotImplementedError naming the class when on_timer is not defined" do
    handler_class = Class.new(described_class)
    stub_const("TimerlessHandler", handler_class)

    expect { handler_class.new.on_timer(nil, nil) }
      .to raise_error(NotImplementedError,
                      /\ATimerlessHandler must implement #on_timer\(context, timer\)/)
  end

  it "offers the error classification macros" do
    expect(described_class).to be_a(Prosody::ErrorClassification)
    expect(described_class).to respond_to(:permanent, :transient)
  end

  it "lets a subclass classify on_message before defining it" do
    handler_class = Class.new(described_class) do
      permanent :on_message, KeyError
      transient :on_timer, IOError

      def on_message(_context, message) = message.fetch("id")
      def on_timer(_context, _timer) = raise(IOError, "store unavailable")
    end
    handler = handler_class.new

    expect { handler.on_message(nil, {}) }
      .to raise_error(Prosody::PermanentError, /key not found: "id"/)
    expect { handler.on_timer(nil, nil) }
      .to raise_error(Prosody::TransientError, "store unavailable")
    expect(handler.on_message(nil, { "id" => 7 })).to eq(7)
  end

  it "classifies the base methods themselves when a subclass lists NotImplementedError" do
    handler_class = Class.new(described_class) { permanent :on_timer, NotImplementedError }

    expect { handler_class.new.on_timer(nil, nil) }
      .to raise_error(Prosody::PermanentError, /must implement #on_timer/)
  end
end

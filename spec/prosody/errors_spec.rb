# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe "Prosody errors" do
  def raised_from(cause, error_class, message)
    raise cause
  rescue StandardError
    begin
      raise error_class, message
    rescue error_class => e
      e
    end
  end

  it "roots every error class at Prosody::Error, a StandardError" do
    classes = [Prosody::EventHandlerError, Prosody::NotSubscribedError,
               Prosody::AlreadySubscribedError, Prosody::ClosedError]

    expect(Prosody::Error.superclass).to be(StandardError)
    expect(classes.map(&:superclass).uniq).to eq([Prosody::Error])
  end

  it "derives PermanentError and TransientError from EventHandlerError" do
    expect([Prosody::PermanentError, Prosody::TransientError].map(&:superclass).uniq)
      .to eq([Prosody::EventHandlerError])
  end

  it "makes EventHandlerError subclasses say whether they are permanent" do
    unfinished = Class.new(Prosody::EventHandlerError)
    stub_const("QuotaExceeded", unfinished)

    expect { QuotaExceeded.new("x").permanent? }
      .to raise_error(NotImplementedError, "QuotaExceeded must implement #permanent?")
    expect(Class.new(Prosody::EventHandlerError) { def permanent? = true }.new).to be_permanent
  end

  it "treats a handler's own EventHandlerError subclass as the engine does its answer" do
    gone = Class.new(Prosody::EventHandlerError) { def permanent? = true }

    expect(Prosody::ErrorClassification.permanent?(gone.new("account closed"))).to be(true)
    expect(Prosody::ErrorClassification.permanent?(Prosody::EventHandlerError.new("?")))
      .to be(false)
  end

  it "raises a ForkError that `rescue RuntimeError` catches" do
    expect(Prosody::ForkError.ancestors).to include(RuntimeError)
  end

  it "marks a PermanentError permanent and keeps its message and cause" do
    cause = KeyError.new("key not found: \"order\"")
    error = raised_from(cause, Prosody::PermanentError, "unusable order")

    expect(error.permanent?).to be(true)
    expect(error.message).to eq("unusable order")
    expect(error.cause).to be(cause)
  end

  it "marks a TransientError not permanent and keeps its message and cause" do
    cause = IOError.new("connection reset")
    error = raised_from(cause, Prosody::TransientError, "try again")

    expect(error.permanent?).to be(false)
    expect(error.message).to eq("try again")
    expect(error.cause).to be(cause)
  end

  it "leaves permanent? off the other error classes" do
    [Prosody::Error, Prosody::NotSubscribedError, Prosody::AlreadySubscribedError,
     Prosody::ClosedError].each do |error_class|
      expect(error_class.new("x")).not_to respond_to(:permanent?)
    end
  end
end

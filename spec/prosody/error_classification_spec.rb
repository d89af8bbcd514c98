# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe Prosody::ErrorClassification do
  # A class that raises the exception passed to #call and classifies exceptions of #call.
  def handler_class(parent = Object, &declarations)
    Class.new(parent) do
      extend Prosody::ErrorClassification

      def call(error = nil, *_rest, **_options)
        raise error if error

        :done
      end

      class_eval(&declarations) if declarations
    end
  end

  def failure(&block)
    block.call
  rescue Exception => e # rubocop:disable Lint/RescueException -- specs inspect any exception
    e
  end

  describe "#permanent" do
    let(:klass) { handler_class { permanent :call, TypeError, KeyError } }

    it "re-raises a listed exception as PermanentError with its message, cause and backtrace" do
      original = TypeError.new("no implicit conversion of nil into String")
      original.set_backtrace(["handler.rb:12:in `call'"])
      error = failure { klass.new.call(original) }

      expect(error).to be_a(Prosody::PermanentError)
      expect(error.message).to eq("no implicit conversion of nil into String")
      expect(error.cause).to be(original)
      expect(error.backtrace).to eq(["handler.rb:12:in `call'"])
      expect(described_class.permanent?(error)).to be(true)
    end

    it "matches subclasses of a listed class" do
      error = failure { klass.new.call(Class.new(KeyError).new("missing id")) }

      expect(error).to be_a(Prosody::PermanentError)
      expect(error.message).to eq("missing id")
    end

    it "lets an unlisted exception through unchanged, so it counts as transient" do
      original = RuntimeError.new("database is down")

      expect(failure { klass.new.call(original) }).to be(original)
      expect(described_class.permanent?(original)).to be(false)
    end

    it "returns the method's value and passes arguments, keywords and blocks through" do
      klass = handler_class do
        def echo(value, *rest, scale: 1, &block) = [value * scale, rest, block&.call]
        permanent :echo, TypeError
      end

      expect(klass.new.call).to eq(:done)
      expect(klass.new.echo(2, { "a" => 1 }, scale: 3) { :block })
        .to eq([6, [{ "a" => 1 }], :block])
    end

    it "classifies exceptions outside StandardError when listed" do
      klass = handler_class { permanent :call, NotImplementedError }

      expect(failure { klass.new.call(NotImplementedError.new("later")) })
        .to be_a(Prosody::PermanentError).and(have_attributes(message: "later"))
    end
  end

  describe "#transient" do
    it "re-raises a listed exception as TransientError with its message and cause" do
      klass = handler_class { transient :call, IOError }
      original = IOError.new("connection reset by peer")
      error = failure { klass.new.call(original) }

      expect(error).to be_a(Prosody::TransientError)
      expect(error.message).to eq("connection reset by peer")
      expect(error.cause).to be(original)
      expect(described_class.permanent?(error)).to be(false)
    end
  end

  describe "choosing between declarations" do
    let(:klass) do
      handler_class do
        transient :call, StandardError
        permanent :call, ArgumentError
      end
    end

    it "prefers the declaration naming the closest class of the exception" do
      expect(failure { klass.new.call(ArgumentError.new("bad")) }).to be_a(Prosody::PermanentError)
      expect(failure { klass.new.call(RuntimeError.new("flaky")) }).to be_a(Prosody::TransientError)
    end

    it "prefers the later declaration for the same class" do
      klass = handler_class do
        permanent :call, IOError
        transient :call, IOError
      end

      expect(failure { klass.new.call(IOError.new("reset")) }).to be_a(Prosody::TransientError)
    end

    it "leaves errors that are already classified alone" do
      original = Prosody::PermanentError.new("invalid order")

      expect(failure { klass.new.call(original) }).to be(original)
    end

    it "leaves a handler's own EventHandlerError subclass alone" do
      account_closed = Class.new(Prosody::EventHandlerError) { def permanent? = true }
      transient_everything = handler_class { transient :call, StandardError }
      original = account_closed.new("account closed")

      expect(failure { transient_everything.new.call(original) }).to be(original)
    end

    it "prepends one wrapper module per class, however many declarations" do
      wrappers = klass.ancestors.take_while { |mod| mod != klass }

      expect(wrappers.size).to eq(1)
      expect(wrappers.first.inspect).to start_with("Prosody::ErrorClassification(")
    end
  end

  describe "inheritance" do
    let(:parent) { handler_class { permanent :call, TypeError } }

    it "applies a parent's declarations to a subclass that overrides the method" do
      child = Class.new(parent) do
        def call(*) = raise(TypeError, "child failed")
      end
      error = failure { child.new.call }

      expect(error).to be_a(Prosody::PermanentError)
      expect(error.message).to eq("child failed")
    end

    it "applies them when the override calls super" do
      child = Class.new(parent) do
        def call(error = nil) = super
      end

      expect(failure { child.new.call(TypeError.new("via super")) })
        .to be_a(Prosody::PermanentError).and(have_attributes(message: "via super"))
    end

    it "lets a subclass override a parent's declaration without changing the parent" do
      child = Class.new(parent) { transient :call, TypeError }

      expect(failure { child.new.call(TypeError.new("x")) }).to be_a(Prosody::TransientError)
      expect(failure { parent.new.call(TypeError.new("x")) }).to be_a(Prosody::PermanentError)
    end
  end

  describe "declaration errors" do
    it "rejects a method that does not exist, naming the method and the class" do
      stub_const("IncompleteHandler", Class.new { extend Prosody::ErrorClassification })

      expect { IncompleteHandler.permanent(:process, TypeError) }
        .to raise_error(NameError, "permanent :process: IncompleteHandler has no instance " \
                                   "method `process`; define it before declaring its errors")
    end

    it "raises while the class body is evaluated" do
      expect { handler_class { transient :handle, IOError } }
        .to raise_error(NameError, /transient :handle: .* has no instance method `handle`/)
    end

    it "requires at least one exception class" do
      expect { handler_class { permanent :call } }
        .to raise_error(ArgumentError, "permanent :call needs at least one exception class, " \
                                       "e.g. `permanent :call, KeyError`")
    end

    it "rejects items that are not Exception subclasses" do
      expect { handler_class { transient :call, IOError, Integer } }
        .to raise_error(ArgumentError, "transient :call: Integer is not an Exception subclass")
      expect { handler_class { permanent :call, "TypeError" } }
        .to raise_error(ArgumentError, 'permanent :call: "TypeError" is not an Exception subclass')
    end

    it "rejects a method name that is not a Symbol or String" do
      expect { handler_class { permanent 42, TypeError } }
        .to raise_error(ArgumentError, "permanent expects a method name, got 42")
    end
  end

  it "wraps private methods and keeps them private" do
    klass = handler_class do
      private def work = raise(KeyError, "gone")
      permanent "work", KeyError
    end

    expect(klass.private_method_defined?(:work)).to be(true)
    expect { klass.new.work }.to raise_error(NoMethodError, /private method `work'/)
    expect(failure { klass.new.send(:work) }).to be_a(Prosody::PermanentError)
  end

  describe ".permanent?" do
    it "is true only when the exception answers permanent? truthily" do
      truthy = Class.new(StandardError) { def permanent? = "yes" }.new
      falsy = Class.new(StandardError) { def permanent? = nil }.new

      expect(described_class.permanent?(truthy)).to be(true)
      expect(described_class.permanent?(falsy)).to be(false)
      expect(described_class.permanent?(RuntimeError.new)).to be(false)
    end

    it "counts an exception whose permanent? raises as transient" do
      raising = Class.new(StandardError) { def permanent? = raise("unclassified") }.new

      expect(described_class.permanent?(raising)).to be(false)
    end
  end
end

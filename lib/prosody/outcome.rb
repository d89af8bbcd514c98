# frozen_string_literal: true

# Requests' outcomes: `Prosody::Success(value)` and `Prosody::Failure(error)` build them.
module Prosody
  # One subsystem's answer to {Client#request}: the value its handler returned.
  #
  # @example
  #   case answers["billing"]
  #   in Prosody::Success(balance) then show(balance)
  #   in Prosody::Failure(error) then warn(error.message)
  #   end
  class Success
    # @return [Object] the handler's return value, decoded from JSON (Hashes have String keys)
    attr_reader :value

    # @param value [Object]
    def initialize(value)
      @value = value
      freeze
    end

    # @return [true]
    def success? = true

    # @return [false]
    def failure? = false

    # @api private
    def deconstruct = [@value]

    # @api private
    def deconstruct_keys(_keys) = { value: @value }

    # @return [Boolean]
    def ==(other) = other.instance_of?(Success) && other.value == @value
    alias eql? ==

    # @return [Integer]
    def hash = [Success, @value].hash

    # @return [String]
    def inspect = "#<Prosody::Success #{@value.inspect}>"
  end

  # One subsystem's answer to {Client#request} that holds no value, and why: its {#error} is a
  # {Failure::HandlerError}, {Failure::Timeout}, {Failure::FormatMismatch} or
  # {Failure::MalformedResponse}, each with a `message`.
  class Failure
    # Why a request got no value from a subsystem.
    class Reason
      # @return [String]
      attr_reader :message

      # @param message [String]
      def initialize(message)
        @message = message.to_s.dup.freeze
        freeze
      end

      # @return [Boolean]
      def ==(other) = other.instance_of?(self.class) && other.message == @message
      alias eql? ==

      # @return [Integer]
      def hash = [self.class, @message].hash

      # @return [String]
      def inspect = "#<#{self.class.name} #{@message.inspect}>"
    end

    # The handler failed for good (a permanent error, or its retries ran out), or its return
    # value could not be sent as JSON; the message is its error's.
    class HandlerError < Reason; end

    # No answer came before the timeout: the subsystem is down, behind or still retrying, or no
    # client serves that name.
    class Timeout < Reason; end

    # The answer was written in a format this version of Prosody does not read.
    class FormatMismatch < Reason; end

    # The answer could not be decoded.
    class MalformedResponse < Reason; end

    # @return [Reason]
    attr_reader :error

    # @param error [Reason]
    def initialize(error)
      @error = error
      freeze
    end

    # @return [false]
    def success? = false

    # @return [true]
    def failure? = true

    # @api private
    def deconstruct = [@error]

    # @api private
    def deconstruct_keys(_keys) = { error: @error }

    # @return [Boolean]
    def ==(other) = other.instance_of?(Failure) && other.error == @error
    alias eql? ==

    # @return [Integer]
    def hash = [Failure, @error].hash

    # @return [String]
    def inspect = "#<Prosody::Failure #{@error.inspect}>"
  end

  # -- read like the outcomes they build
  # @param value [Object]
  # @return [Success]
  def self.Success(value) = Success.new(value)

  # @param error [Failure::Reason]
  # @return [Failure]
  def self.Failure(error) = Failure.new(error)
end

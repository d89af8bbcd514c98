# frozen_string_literal: true

module Prosody
  # Why a handler is running: a first delivery (`:normal`) or a retry of an event that failed
  # before (`:failure`), and how many attempts came before this one. {Context#demand} builds
  # one per call from a single integer the engine keeps per attempt.
  #
  # `retry` is 0 on a first delivery and counts 1, 2, … on retries. In pipeline mode it goes on
  # counting when a deferred event comes back (each earlier round is taken to have made
  # `max_retries + 1` attempts). A redelivery after a restart or rebalance starts again at 0,
  # so it is a floor: keep an exact count in keyed state if you need one.
  #
  # @example Alert only once an event keeps failing
  #   alert(message) if context.demand.failure? && context.demand.retry >= 5
  class Demand
    # @return [Integer] attempts at this event before this one
    attr_reader :retry

    # @api private
    # @param retries [Integer] attempts before this one
    def initialize(retries)
      @retry = retries
      freeze
    end

    # @return [Symbol] `:normal` on a first delivery, `:failure` on a retry
    def kind = @retry.zero? ? :normal : :failure

    # @return [Boolean] whether this is the event's first delivery
    def normal? = @retry.zero?

    # @return [Boolean] whether an earlier attempt at this event failed
    def failure? = !normal?

    # @return [Boolean]
    def ==(other) = other.is_a?(Demand) && other.retry == @retry
    alias eql? ==

    # @return [Integer]
    def hash = [Demand, @retry].hash

    # @return [String]
    def inspect = "#<#{self.class} kind=#{kind} retry=#{@retry}>"
  end
end

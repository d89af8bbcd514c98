# frozen_string_literal: true

require "prosody"

module Prosody
  # Reports handler failures to Sentry. Opt in with `require "prosody/sentry"`; Prosody never
  # loads sentry-ruby itself, so add it to your Gemfile and require it as well.
  #
  # Once this file is loaded, every exception a handler raises is captured once per failed
  # attempt (a message retried three times gives three events), tagged with the event's topic,
  # partition, offset, key, payload `type`, the consumer's group id and mode, the attempt number
  # and whether the failure was permanent or transient. A handler stopped with `Async::Stop`,
  # and one that fails after it was cancelled (timeout, rebalance, shutdown), is not reported:
  # those errors are consequences of the cancellation, not of the event.
  #
  # Sentry must be loaded and initialised. When it is loaded but not initialised and
  # `SENTRY_DSN` is set, the first failure initialises it with that DSN and Sentry's defaults.
  # When `SENTRY_DSN` is set but sentry-ruby is not loaded, one error is logged through
  # {Prosody.logger} and handlers run on unreported.
  #
  # sentry-ruby APIs relied on, each present in 5.x (from 5.3) and 6.x: `Sentry.initialized?`,
  # `Sentry.init` (with a block setting `config.dsn`), `Sentry.capture_exception` with a block
  # (which yields the event's own `Sentry::Scope`), `Sentry::Scope#set_tags` and
  # `Sentry::Scope#set_context`.
  #
  # @example
  #   require "sentry-ruby"
  #   require "prosody/sentry"
  #
  #   Sentry.init { |config| config.dsn = ENV.fetch("SENTRY_DSN") }
  module SentryIntegration
    # Sentry discards tag values longer than this; the full value stays in the `prosody` context.
    TAG_VALUE_LIMIT = 200

    @lock = Mutex.new
    @missing_logged = false

    class << self
      # Whether failures are being reported. Initialises Sentry from `SENTRY_DSN` when it is
      # loaded but not yet initialised.
      #
      # @example
      #   Prosody::SentryIntegration.enabled? # => true once Sentry.init has run
      # @return [Boolean]
      def enabled?
        return sentry_missing unless defined?(::Sentry)
        return true if ::Sentry.initialized?

        dsn = configured_dsn
        dsn ? start(dsn) : false
      end

      # Sends `error` to Sentry with `context` as the `prosody` context and each scalar entry
      # as a `prosody.<name>` tag. Does nothing when {enabled?} is false.
      #
      # @example
      #   Prosody::SentryIntegration.capture_exception(error, topic: "orders", key: "customer-1")
      # @param error [Exception]
      # @param context [Hash{Symbol, String => Object}]
      # @return [Boolean] whether Sentry accepted the event (it may sample or filter it out)
      def capture_exception(error, context = {})
        return false unless enabled?

        context = context.to_h
        # The block gets this event's own copy of the scope. `Sentry.with_scope` would push onto
        # the thread's scope stack, which the handler fibers of a processor thread share.
        event = ::Sentry.capture_exception(error) do |scope|
          scope.set_tags(tags(context))
          scope.set_context("prosody", context)
        end
        !event.nil?
      end

      private

      def configured_dsn
        dsn = ENV.fetch("SENTRY_DSN", nil)
        dsn unless dsn.nil? || dsn.strip.empty?
      end

      # Several processor threads may fail at once; Sentry must be initialised only once.
      def start(dsn)
        @lock.synchronize do
          ::Sentry.init { |config| config.dsn = dsn } unless ::Sentry.initialized?
        end
        ::Sentry.initialized?
      end

      def sentry_missing
        return false unless configured_dsn

        first = @lock.synchronize { !@missing_logged && (@missing_logged = true) }
        if first
          Prosody.logger.error(
            "prosody: SENTRY_DSN is set but sentry-ruby is not loaded, so handler failures " \
            "are not reported to Sentry; add the sentry-ruby gem and `require \"sentry-ruby\"`"
          )
        end
        false
      end

      def tags(context)
        context.each_with_object({}) do |(name, value), tags|
          next if value.nil? || value.is_a?(Hash) || value.is_a?(Array)

          tags["prosody.#{name}"] = value.to_s[0, TAG_VALUE_LIMIT]
        end
      end
    end
  end
end

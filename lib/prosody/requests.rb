# frozen_string_literal: true

module Prosody
  # {Client#request} and {Client#request_excise}: one record to a topic, one answer from each
  # subsystem named. A subsystem is a client built with `subsystem:`; its handler's return
  # value is its answer. Answers come back over Kafka, on the requesting client's
  # `reply_topic`.
  module Requests
    # What the engine's answer kinds become.
    REASONS = {
      handler_error: Failure::HandlerError,
      timeout: Failure::Timeout,
      format_mismatch: Failure::FormatMismatch,
      malformed_response: Failure::MalformedResponse
    }.freeze

    # What {#request_excise} passes as its payload.
    EXCISE = Object.new.freeze
    private_constant :EXCISE

    # Sends `payload` to `topic` under `key` as a request to each of `subsystems`, and waits
    # until all answered or `timeout` seconds passed. Inside a fiber under a scheduler (such as
    # a handler) only the calling fiber waits; elsewhere the thread waits without the GVL.
    #
    # @example
    #   answers = client.request(topic: "orders", key: "order-1", payload: { "type" => "status" },
    #                            subsystems: %w[billing shipping], timeout: 2)
    #   answers["billing"] # => #<Prosody::Success {"paid"=>true}>
    #   answers["shipping"] # => #<Prosody::Failure #<Prosody::Failure::Timeout "...">>
    # @param topic [String]
    # @param key [String]
    # @param payload [Object] any JSON-compatible value
    # @param subsystems [Array<String, Symbol>] the subsystems asked, each once
    # @param timeout [Numeric] seconds, above 0 and at most 3600
    # @return [Hash{String => Success, Failure}] one entry per subsystem
    # @raise [ArgumentError] for no, repeated or invalid subsystem names, a timeout out of
    #   range, or a handler requesting its own key from its own subsystem (it would wait for
    #   itself until the timeout)
    # @raise [TypeError] for arguments of the wrong type, or a payload JSON cannot hold
    # @raise [Prosody::Error] when the request could not be sent (its message says why)
    # @raise [Prosody::ClosedError] when the client is closed, or closes while the request waits
    def request(topic:, key:, payload:, subsystems:, timeout:)
      ask(topic, key, subsystems, timeout, payload)
    end

    # {#request} with an excise record (a tombstone; see {Client#excise}) as the request: each
    # subsystem's `on_excise` return value is its answer.
    #
    # @param topic [String]
    # @param key [String]
    # @param subsystems [Array<String, Symbol>]
    # @param timeout [Numeric] seconds
    # @return [Hash{String => Success, Failure}]
    # @raise [ArgumentError, TypeError, Prosody::Error] as {#request}
    def request_excise(topic:, key:, subsystems:, timeout:)
      ask(topic, key, subsystems, timeout, EXCISE)
    end

    private

    # `payload` is EXCISE for an excise record.
    def ask(topic, key, subsystems, timeout, payload)
      check_process
      ensure_open
      topic = Text.check(topic, "topic")
      key = Text.check(key, "key")
      names = Requests.names(subsystems)
      seconds = Requests.seconds(timeout)
      Requests.refuse_waiting_for_itself(topic, key, names)
      excise = payload.equal?(EXCISE)
      args = [topic, key, excise ? nil : payload, excise, names, seconds,
              OtelBridge.current_traceparent || TraceScope.current, OtelBridge.current_baggage]
      Requests.outcomes(send_request(args))
    end

    def send_request(args)
      @native.request(*args).value
    rescue TypeError => e
      raise if args[3]

      args[2] = AsJson.convert(args[2], e)
      @native.request(*args).value
    rescue Error
      # The engine ends a request whose client closes while it waits.
      raise ClosedError, "this client closed while the request waited" if @closed

      raise
    end

    class << self
      # @api private
      def names(subsystems)
        unless subsystems.is_a?(Array)
          raise TypeError, "subsystems must be an Array of Strings, got #{subsystems.class}"
        end

        subsystems.map { |name| Text.check(name, "subsystem name") }
      end

      # @api private
      def seconds(timeout)
        unless timeout.is_a?(Numeric) && timeout.real?
          raise TypeError, "timeout must be a number of seconds, got #{timeout.class}"
        end

        unless timeout.positive?
          raise ArgumentError,
                "timeout must be above 0 seconds, got #{timeout}"
        end

        timeout.to_f
      end

      # A handler holds its key; a request it sends to its own subsystem for that key would
      # queue behind it and could only time out.
      # @api private
      def refuse_waiting_for_itself(topic, key, names)
        message = TraceScope.current
        subsystem = TraceScope.subsystem
        return unless subsystem && message.is_a?(Message) && names.include?(subsystem)
        return unless message.topic == topic && message.key == key

        raise ArgumentError, "this handler of subsystem #{subsystem.inspect} is handling key " \
                             "#{key.inspect} of #{topic.inspect}, so a request to itself for " \
                             "that key would wait behind it until the timeout; answer from " \
                             "the handler itself, or ask the other subsystems only"
      end

      # Hands the engine a request's answer: the handler's return value, through `as_json` when
      # JSON alone cannot hold it (as Rails would send it). One neither can hold answers a
      # failure saying so, and a warning says why.
      # @api private
      def answer(event, value, logger)
        # False for timers too: they never answer.
        return unless event.__send__(:answers_request?)

        reason = event.__send__(:respond, value)
        reason = as_json_answer(event, value) if reason && value.respond_to?(:as_json)
        logger.warn("prosody: #{reason}") if reason
      end

      # @api private
      def outcomes(triples)
        triples.to_h do |subsystem, kind, value|
          [subsystem,
           kind == :success ? Success.new(value) : Failure.new(REASONS.fetch(kind).new(value))]
        end
      end

      private

      def as_json_answer(event, value)
        event.__send__(:respond, value.as_json)
      rescue StandardError => e
        "the handler's return value cannot be sent as a JSON answer: #{e.class}: #{e.message}"
      end
    end
  end
end

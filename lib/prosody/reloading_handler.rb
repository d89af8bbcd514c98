# frozen_string_literal: true

module Prosody
  # What the `prosody` command subscribes in a Rails app that reloads code (development, where
  # `config.cache_classes` is false): each call runs inside `Rails.application.reloader.wrap`,
  # so an edited handler (or anything it uses) is reloaded before the next message, as a
  # request would see it. When the handler's class was reloaded, a fresh instance of the new
  # class takes the call; until then the same instance serves every call.
  #
  # Calls run in fibers of one processor thread, so a reload happens between two handler calls
  # only once no other call of that thread is inside the reloader.
  class ReloadingHandler
    # @param handler_class [Class]
    # @return [Object] a handler: `handler_class.new`, or a ReloadingHandler when the Rails app
    #   reloads code
    def self.for(handler_class)
      return handler_class.new unless reloading?

      # Whether excise records reach the handler is settled when it subscribes, so a class
      # that gains `on_excise` in a reload takes effect at the next restart.
      (handler_class.method_defined?(:on_excise) ? Excising : self).new(handler_class.name)
    end

    # @return [Boolean] whether a Rails app is loaded and reloads code
    def self.reloading?
      return false unless defined?(::Rails.application) && ::Rails.application

      !::Rails.application.config.cache_classes
    end

    # @param class_name [String] looked up again on every call, since reloading replaces it
    def initialize(class_name)
      @class_name = class_name
      @handler_class = nil
      @handler = nil
    end

    # @param context [Context]
    # @param message [Message]
    def on_message(context, message)
      ::Rails.application.reloader.wrap { current.on_message(context, message) }
    end

    # @param context [Context]
    # @param timer [Timer]
    def on_timer(context, timer)
      ::Rails.application.reloader.wrap { current.on_timer(context, timer) }
    end

    # A {ReloadingHandler} for a class that defines `on_excise`.
    class Excising < ReloadingHandler
      # @param context [Context]
      # @param message [Message] an excise record
      def on_excise(context, message)
        ::Rails.application.reloader.wrap { current.on_excise(context, message) }
      end
    end

    private

    def current
      handler_class = Object.const_get(@class_name)
      unless handler_class.equal?(@handler_class)
        @handler_class = handler_class
        @handler = handler_class.new
      end
      @handler
    end
  end
end

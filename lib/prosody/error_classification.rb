# frozen_string_literal: true

module Prosody
  # Class macros that mark which exceptions of a method are permanent (never retried) or
  # transient (retried). {EventHandler} extends this module; any class may.
  #
  # A declaration wraps the method through a prepended module, so the method's own body stays
  # untouched and `super` works. When the method raises a listed exception, the wrapper raises
  # {PermanentError} or {TransientError} instead, with the same message and backtrace and the
  # original as `cause`. Anything unlisted passes through unchanged, and the engine treats it as
  # transient. So does any {EventHandlerError} ({PermanentError}, {TransientError} or a subclass
  # of your own that answers `permanent?`): it is already classified.
  #
  # When several declarations match, the one naming the closest class in the exception's
  # ancestry wins (TypeError before StandardError); for the same class, a subclass's declaration
  # beats its parent's, and a later one beats an earlier one. Subclasses inherit declarations,
  # even when they override the method.
  module ErrorClassification
    # Whether the engine treats +exception+ as permanent: only if it answers `permanent?` with a
    # truthy value. An exception whose `permanent?` itself raises counts as transient.
    #
    # @param exception [Exception]
    # @return [Boolean]
    # @example
    #   Prosody::ErrorClassification.permanent?(Prosody::PermanentError.new("bad")) # => true
    #   Prosody::ErrorClassification.permanent?(RuntimeError.new("boom"))          # => false
    def self.permanent?(exception)
      return false unless exception.respond_to?(:permanent?)

      !!exception.permanent?
    rescue StandardError, NotImplementedError
      false
    end

    # Marks exceptions of an instance method as permanent: the engine will not retry the event.
    #
    # @param method_name [Symbol, String] an instance method defined already (here or inherited)
    # @param exception_classes [Array<Class>] Exception subclasses to classify; at least one
    # @return [void]
    # @raise [NameError] if the method does not exist
    # @raise [ArgumentError] if no classes are given or one is not an
    #   Exception subclass
    # @example
    #   class OrderHandler < Prosody::EventHandler
    #     permanent :on_message, KeyError, JSON::ParserError
    #   end
    def permanent(method_name, *exception_classes)
      classify(method_name, exception_classes, PermanentError)
    end

    # Marks exceptions of an instance method as transient: the engine retries the event. Errors
    # are transient by default; this is for overriding a broader `permanent` declaration.
    #
    # @param method_name [Symbol, String] an instance method defined already (here or inherited)
    # @param exception_classes [Array<Class>] Exception subclasses to classify; at least one
    # @return [void]
    # @raise [ArgumentError] as {#permanent}
    # @example
    #   class OrderHandler < Prosody::EventHandler
    #     permanent :on_message, StandardError
    #     transient :on_message, Timeout::Error
    #   end
    def transient(method_name, *exception_classes)
      classify(method_name, exception_classes, TransientError)
    end

    private

    # Wraps a new subclass's copies of the classified methods, so an override is covered too.
    def inherited(subclass)
      super
      classified_methods.each { |name| Rules.wrap(subclass, name) }
    end

    def classify(method_name, exception_classes, error_class)
      name = Rules.check(self, method_name, exception_classes, error_class)
      rules = (@prosody_error_rules ||= {})
      (rules[name] ||= []) << [error_class, exception_classes.dup.freeze].freeze
      Rules.wrap(self, name)
    end

    def classified_methods
      ancestors.grep(ErrorClassification).flat_map { |owner| Rules.declared(owner).keys }.uniq
    end

    # The bookkeeping behind the macros: checking declarations, wrapping methods, and choosing
    # the class to raise.
    module Rules
      module_function

      # The class to raise instead of +exception+, raised by +method_name+ of an instance of
      # +klass+, or nil to let it through.
      def error_class_for(klass, method_name, exception)
        return nil if exception.is_a?(EventHandlerError)

        lineage = exception.class.ancestors
        candidates(klass, method_name).filter_map do |error_class, exception_class|
          distance = lineage.index(exception_class)
          [distance, error_class] if distance
        end.min_by(&:first)&.last
      end

      # The declarations made in +owner+ itself: method name => [[error class, classes], ...].
      def declared(owner)
        owner.instance_variable_get(:@prosody_error_rules) || {}
      end

      # Pairs of [error class, exception class], nearest declaring class and latest first.
      def candidates(klass, method_name)
        klass.ancestors.grep(ErrorClassification).flat_map do |owner|
          declared(owner).fetch(method_name, []).reverse.flat_map do |error_class, classes|
            classes.map { |exception_class| [error_class, exception_class] }
          end
        end
      end

      # Checks a declaration and returns the method name as a Symbol.
      def check(owner, method_name, exception_classes, error_class)
        macro = error_class == PermanentError ? "permanent" : "transient"
        unless method_name.is_a?(Symbol) || method_name.is_a?(String)
          raise ArgumentError, "#{macro} expects a method name, got #{method_name.inspect}"
        end

        name = method_name.to_sym
        check_method(owner, macro, name)
        check_classes(macro, name, exception_classes)
        name
      end

      def check_method(owner, macro, name)
        return if owner.method_defined?(name) || owner.private_method_defined?(name)

        raise NameError.new("#{macro} :#{name}: #{owner.inspect} has no instance method " \
                            "`#{name}`; define it before declaring its errors", name)
      end

      def check_classes(macro, name, exception_classes)
        if exception_classes.empty?
          raise ArgumentError, "#{macro} :#{name} needs at least one exception class, " \
                               "e.g. `#{macro} :#{name}, KeyError`"
        end
        exception_classes.each do |item|
          next if item.is_a?(Class) && item <= Exception

          raise ArgumentError, "#{macro} :#{name}: #{item.inspect} is not an Exception subclass"
        end
      end

      # Makes +owner+'s wrapper module (prepended once) wrap +name+, with the same visibility.
      def wrap(owner, name)
        wrapper = wrapper_for(owner)
        return if wrapper.instance_methods(false).include?(name) ||
                  wrapper.private_instance_methods(false).include?(name)

        visibility = if owner.private_method_defined?(name) then :private
                     elsif owner.protected_method_defined?(name) then :protected
                     end
        define_wrapper(wrapper, name)
        wrapper.send(visibility, name) if visibility
      end

      def define_wrapper(wrapper, name)
        wrapper.define_method(name) do |*args, **kwargs, &block|
          super(*args, **kwargs, &block)
        rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised unless listed
          error_class = Rules.error_class_for(self.class, name, e)
          raise unless error_class

          raise error_class, e.message, e.backtrace
        end
      end

      def wrapper_for(owner)
        existing = owner.instance_variable_get(:@prosody_error_wrapper)
        return existing if existing

        wrapper = Module.new
        label = "Prosody::ErrorClassification(#{owner.inspect})"
        wrapper.define_singleton_method(:inspect) { label }
        wrapper.define_singleton_method(:to_s) { label }
        owner.prepend(wrapper)
        owner.instance_variable_set(:@prosody_error_wrapper, wrapper)
      end
    end
    private_constant :Rules
  end
end

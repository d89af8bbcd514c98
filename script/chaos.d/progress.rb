# frozen_string_literal: true

require "set"

module Chaos
  # Follows a run's logs while it goes on: which acknowledged messages no handler has logged
  # yet. Reads only what was appended since the last call, and only whole lines (a handler may
  # be halfway through writing one).
  class Progress
    def initialize(dir)
      @dir = dir
      @offsets = Hash.new(0)
      @handled = Set.new
      @pending = Set.new
      @acked = 0
      @lines = 0
      @timers_pending = Set.new
      @timers_fired = Set.new
    end

    # @return [void]
    def read
      each_new_line("produced.tsv") { |line| acked(line) unless line.start_with?("nack") }
      Dir[File.join(@dir, "handled-*.log")].each do |path|
        each_new_line(File.basename(path)) { |line| handled(line) }
      end
      Dir[File.join(@dir, "timers-*.log")].each do |path|
        each_new_line(File.basename(path)) { |line| fired(line) }
      end
    end

    # @return [Boolean] whether every message acknowledged so far was handled
    # @return [Boolean] whether every message acknowledged so far was handled, and every timer
    #   a handler scheduled has fired
    def drained? = @pending.empty? && @timers_pending.empty?

    # @return [String]
    def summary
      "acked=#{@acked} handled=#{@handled.size} lines=#{@lines} waiting=#{@pending.size} " \
        "timers=#{@timers_fired.size}/#{@timers_fired.size + @timers_pending.size}"
    end

    private

    def acked(line)
      @acked += 1
      id = line.split("\t", 3).first(2).join("\t")
      @pending << id unless @handled.include?(id)
    end

    def handled(line)
      @lines += 1
      fields = line.split("\t")
      id = fields[1, 2].join("\t")
      @handled << id
      @pending.delete(id)
      due = fields[9]
      timer = "#{fields[1]}\t#{due}"
      @timers_pending << timer if due && due != "-" && !@timers_fired.include?(timer)
    end

    def fired(line)
      timer = line.split("\t", 4)[1, 2].join("\t")
      @timers_fired << timer
      @timers_pending.delete(timer)
    end

    def each_new_line(name)
      path = File.join(@dir, name)
      return unless File.exist?(path)

      chunk = File.open(path) do |file|
        file.seek(@offsets[name])
        file.read
      end
      complete = chunk.rindex("\n")
      return unless complete

      @offsets[name] += complete + 1
      chunk[0..complete].each_line { |line| yield line.chomp }
    end
  end
end

# frozen_string_literal: true

require "open3"
require "rbconfig"

# `rake bench`: the engine benchmark, the Ruby throughput benchmark (with its FFI yardstick) and
# the backlog memory benchmark, each on the mock cluster, then one table of issue #15's figures.
# Builds the extension with the `bench` feature first; `rake compile` goes back to the gem's.
# BENCH_ROUNDS (3) sets the Ruby benchmark's rounds, BENCH_RSS_COUNT (1000000) the backlog.
module ProsodyBench
  module_function

  # Runs a command, echoing its output as it comes, and returns that output.
  def run(*command)
    puts "$ #{command.join(" ")}"
    output = +""
    Open3.popen2e(*command) do |_stdin, out, wait|
      out.each_line do |line|
        print line
        output << line
      end
      raise "#{command.first} failed (#{wait.value})" unless wait.value.success?
    end
    output
  end

  # The lines of `output` that match `pattern`, or a placeholder saying the figure is missing.
  def figures(output, pattern)
    lines = output.lines.grep(pattern).map(&:strip)
    lines.empty? ? ["(not printed; see the output above)"] : lines
  end
end

desc "Run the engine, Ruby and memory benchmarks on the mock cluster and print one table"
task :bench do
  ENV["PROSODY_CARGO_FEATURES"] = "bench"
  Rake::Task[:compile].invoke
  engine = ProsodyBench.run(ENV.fetch("CARGO", "cargo"), "bench", "--manifest-path",
                            "bench/engine/Cargo.toml", "--bench", "throughput", "--",
                            "--mock", "--cases", "abe")
  ruby = ProsodyBench.run(RbConfig.ruby, "-Ilib", "bench/ruby_throughput.rb", "--rounds",
                          ENV.fetch("BENCH_ROUNDS", "3"))
  rss = ProsodyBench.run(RbConfig.ruby, "-Ilib", "bench/rss_backlog.rb",
                         ENV.fetch("BENCH_RSS_COUNT", "1000000"))
  puts "\n== issue #15 figures (mock cluster, this run) =="
  {
    "(E1) engine" => [engine, /\A\| \((a|b|e)\)/],
    "(R1)-(R3) Ruby" => [ruby, /\A {2}(\(b\)|FFI|\(R\d\))/],
    "(M1) memory" => [rss, /\A(handled|RSS peak)/]
  }.each do |title, (output, pattern)|
    puts title
    ProsodyBench.figures(output, pattern).each { |line| puts "  #{line}" }
  end
  puts "\nThe extension in lib/prosody/ is the bench build; run `rake compile` for the gem's."
end

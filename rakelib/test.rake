# frozen_string_literal: true

begin
  require "rspec/core/rake_task"

  RSpec::Core::RakeTask.new(:spec)

  desc "Run the specs that load ActiveSupport, in a process of their own"
  RSpec::Core::RakeTask.new("spec:active_support") do |t|
    t.rspec_opts = "--options spec/active_support/.rspec"
    t.pattern = "spec/active_support/**/*_spec.rb"
  end
rescue LoadError
  desc "Run the specs (rspec is not installed)"
  task :spec do
    abort "rspec is not installed: apt-get install ruby-rspec"
  end
end

desc "Run every examples/*.rb with ruby -Ilib"
task :examples do
  examples = Dir[File.expand_path("../examples/*.rb", __dir__)]
  puts "no examples to run" if examples.empty?
  examples.each do |example|
    puts "== #{File.basename(example)}"
    ruby "-Ilib", example
  end
end

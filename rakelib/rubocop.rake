# frozen_string_literal: true

desc "Run RuboCop"
task :rubocop do
  sh "rubocop"
end

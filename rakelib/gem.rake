# frozen_string_literal: true

namespace :gem do
  desc "Build the gem, install it into a temporary GEM_HOME and load it from outside the repo"
  task :smoke do
    sh "rspec", "--tag", "slow", "spec/gem_install_spec.rb"
  end
end

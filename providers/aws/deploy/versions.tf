terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    # polythumb-deployment is the cost allocation tag of the budget (budget.tf).
    tags = merge({ "app" = "polythumb" }, var.tags, local.cost_tag)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# polythumb on Google Cloud: Cloud Functions 2nd gen behind Eventarc Cloud Storage triggers.
# Build the source archive first: `polythumb package gcp --out dist/polythumb-gcp.zip` (see ../README.md).

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      # Schema-checked against 6.50.0 offline (tests/terraform_schema.py): the newest version with a CDKTF
      # binding to read the schema from. 7.x (breaking changes) is not checked, so it is not allowed.
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    time = {
      # Schema-checked against 0.13.1 offline (tests/terraform_schema.py).
      source  = "hashicorp/time"
      version = ">= 0.9, < 1.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  # polythumb-deployment is the label the budget counts (budget.tf).
  default_labels = local.cost_labels
}
